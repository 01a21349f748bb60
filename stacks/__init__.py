"""Infrastructure: the CDKTF construct and stacks of careconnect-ws.

Import the construct with ``from stacks.websocket_api import WebSocketApi, WebSocketApiProps, LambdaTarget``.
Importing anything here loads the CDK (Node.js, ~10 s): keep it out of the Lambda.
"""
