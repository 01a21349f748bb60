"""The local gateway: API Gateway's WebSocket API and Management API on one machine.

``careconnect-ws serve`` runs it. It speaks the real protocols (any WebSocket client
connects; boto3's ``apigatewaymanagementapi`` works against it unchanged) and invokes
the same ``lambda_handler`` with events shaped like API Gateway's. Needs the ``local``
extra (aiohttp).
"""
