"""This app's own stack: the construct library (``careconnect_ws_cdk``) wired with a provider,
a backend and the Terraform module's outputs. Importing ``stacks.websocket_stack`` loads the CDK."""
