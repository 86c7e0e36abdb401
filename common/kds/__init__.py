"""KDS: the global <-> zone sync protocol over websockets.

messages.py: frame encoding, decoding and chunking;
protocol.py: the sans-I/O state machines (no sockets; unit-tested directly);
kinds.py: which kinds flow which way.
The transports live in global_cp/kds_server.py and zone_cp/kds_client.py."""
