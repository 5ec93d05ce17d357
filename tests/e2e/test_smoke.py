from coderai.v1 import auth_pb2, auth_pb2_grpc


async def test_register_then_me(channel, unique_email):
    auth = auth_pb2_grpc.AuthServiceStub(channel)
    await auth.Register(
        auth_pb2.RegisterRequest(email=unique_email, password="correct horse battery")
    )
    registered = await auth.Login(
        auth_pb2.LoginRequest(email=unique_email, password="correct horse battery")
    )
    me = await auth.GetMe(
        auth_pb2.GetMeRequest(),
        metadata=[("authorization", f"Bearer {registered.tokens.access_token}")],
    )
    assert me.user.email == unique_email
