package afpacket

// Transmitter sends Ethernet frames in batches on one interface.
//
// A batch is built by calling Next for a buffer, writing one complete frame
// (starting at the Ethernet header) into it and calling Commit with its
// length, as often as Next returns a buffer; Flush then hands the batch to
// the kernel. A Transmitter is not safe for concurrent use.
//
// The implementations are [NewMmsgTransmitter] (sendmmsg(2)) and
// [NewRingTransmitter] (PACKET_TX_RING).
type Transmitter interface {
	// Next returns a buffer of MaxFrame bytes for the next frame of the
	// batch, or nil when the batch is full and must be flushed first.
	// The buffer is valid until the next Commit.
	Next() []byte
	// Commit records that the buffer returned by the last Next holds a
	// frame of n bytes. Commit(0) discards the buffer. It panics if n is
	// negative or larger than the buffer.
	Commit(n int)
	// Flush sends the committed frames and empties the batch. It returns
	// how many frames the kernel accepted; frames it did not accept are
	// dropped and the error says why. Transient "queue full" conditions
	// (EAGAIN, ENOBUFS) are retried for a bounded time first.
	Flush() (int, error)
	// Close releases the socket. Frames not yet flushed are dropped.
	Close() error
}
