/**
 * The signed-in researcher's tokens and the SDK client that signs every call with them.
 *
 * The access token stays in memory. The refresh token is kept in localStorage so that a reload
 * (or a new tab) stays signed in: the page trades it for new tokens when it loads. That makes
 * it readable by any script the page runs, which is why the page runs only its own bundle and
 * the refresh token is single-use (each refresh replaces it) and revoked by signing out.
 */
import {
  Code,
  ConnectError,
  createCoderAIClient,
  type Interceptor,
  type TokenPair,
  type User,
} from "@coderai/sdk";

const REFRESH_TOKEN_KEY = "coderai.refreshToken";

let tokens: TokenPair | undefined;

/** A call refused for an expired access token is tried once more with renewed tokens. */
const renewOnExpiry: Interceptor = (next) => async (request) => {
  try {
    return await next(request);
  } catch (error) {
    const expired = ConnectError.from(error).code === Code.Unauthenticated;
    if (!expired || request.stream || !(await renewTokens())) {
      throw error;
    }
    request.header.set("authorization", `Bearer ${tokens?.accessToken}`);
    return await next(request);
  }
};

export const api = createCoderAIClient(window.location.origin, () => tokens?.accessToken, {
  interceptors: [renewOnExpiry],
});

function keep(pair: TokenPair | undefined): void {
  tokens = pair;
  if (pair?.refreshToken) {
    localStorage.setItem(REFRESH_TOKEN_KEY, pair.refreshToken);
  } else {
    localStorage.removeItem(REFRESH_TOKEN_KEY);
  }
}

/** Signs in; the researcher. */
export async function signIn(email: string, password: string): Promise<User | undefined> {
  const response = await api.auth.login({ email, password });
  keep(response.tokens);
  return response.user;
}

/** Creates the account, then signs in (Register itself signs nobody in). */
export async function register(
  email: string,
  password: string,
  displayName: string,
): Promise<User | undefined> {
  await api.auth.register({ email, password, displayName });
  return signIn(email, password);
}

/** The researcher still signed in from an earlier visit, if the kept refresh token works. */
export async function restore(): Promise<User | undefined> {
  if (!localStorage.getItem(REFRESH_TOKEN_KEY) || !(await renewTokens())) {
    return undefined;
  }
  return (await api.auth.getMe({})).user;
}

/** Trades the refresh token for new tokens; false when there is none or it was refused. */
export async function renewTokens(): Promise<boolean> {
  const refreshToken = tokens?.refreshToken ?? localStorage.getItem(REFRESH_TOKEN_KEY);
  if (!refreshToken) {
    return false;
  }
  try {
    keep((await api.auth.refresh({ refreshToken })).tokens);
  } catch (error) {
    if (ConnectError.from(error).code !== Code.Unauthenticated) {
      throw error;
    }
    keep(undefined);
  }
  return tokens !== undefined;
}

/** Signs out: the refresh token is revoked and forgotten. */
export async function signOut(): Promise<void> {
  const refreshToken = tokens?.refreshToken;
  keep(undefined);
  if (refreshToken) {
    await api.auth.logout({ refreshToken });
  }
}
