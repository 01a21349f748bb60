from careconnect_ws.handler import lambda_handler  # noqa: F401
