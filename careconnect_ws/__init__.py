"""careconnect-ws: the runtime of the CareConnect WebSocket notification system.

This package is what the backend Lambda runs. It never imports the CDK (cdktf,
constructs, jsii or the provider bindings): those start Node.js and cost seconds
and a gigabyte of memory on every cold start.
"""

__version__ = "0.1.0"
