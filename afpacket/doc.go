// Package afpacket sends and receives raw Ethernet frames through Linux
// AF_PACKET sockets.
//
// Transmission is batched behind the [Transmitter] interface, with two
// implementations: one built on sendmmsg(2) ([NewMmsgTransmitter]) and one on a
// memory-mapped PACKET_TX_RING ([NewRingTransmitter]). Reception uses a
// memory-mapped TPACKET_V3 ring ([Ring]) guarded by a classic BPF filter such
// as the one built by [ReplyFilter].
//
// Transmit sockets are opened with protocol 0, so the kernel never queues
// received frames on them. Everything here needs CAP_NET_RAW.
//
// Nothing in the per-frame paths (filling and flushing a batch, walking a
// receive block) allocates.
package afpacket
