/**
 * The signed-in researcher's tokens and the SDK client that signs every call with them. The
 * tokens are kept in memory only: reloading the page signs out.
 */
import { createCoderAIClient, type TokenPair, type User } from "@coderai/sdk";

let tokens: TokenPair | undefined;

export const api = createCoderAIClient(window.location.origin, () => tokens?.accessToken);

/** Signs in; the researcher, when the server names them. */
export async function signIn(email: string, password: string): Promise<User | undefined> {
  const response = await api.auth.login({ email, password });
  tokens = response.tokens;
  return response.user;
}

/** Trades the refresh token for new tokens; false when there is none to trade. */
export async function renewTokens(): Promise<boolean> {
  if (!tokens?.refreshToken) {
    return false;
  }
  tokens = (await api.auth.refresh({ refreshToken: tokens.refreshToken })).tokens;
  return tokens !== undefined;
}
