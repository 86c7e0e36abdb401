"""KDS: the global <-> zone sync protocol over websockets.

protocol.py: the sans-I/O session machines (frames in, events out) and their Timing;
messages.py: frame encoding, decoding and chunking;
driver.py: all of a session's I/O (websocket, store reads, sink applies);
adapters.py: the driver's Source/Sink ports and the Store-backed Source;
kinds.py: which kinds flow which way.
The transports live in global_cp/kds_server.py and zone_cp/kds_client.py."""
