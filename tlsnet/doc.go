// Package tlsnet gives a guest its network sockets: the listening and
// connected sockets of a keep, as vfs.Socket descriptors for package wasi.
// The guest reads and writes plaintext; on the wire the keep speaks TLS 1.3
// with its attested certificate, or plain TCP when the configuration asks
// for it (prot = "tcp").
//
// # Model
//
// The vfs contract says that methods never block: they move bytes between
// the guest and buffers in memory, or return syscall.EAGAIN, and report
// readiness through vfs.Notifier. The network is served by goroutines:
//
//   - A Listener has an accept goroutine, and one goroutine per TLS
//     handshake, bounded by Options.HandshakeTimeout, so that a peer that
//     stalls its handshake delays nobody else. Connections that complete
//     it wait in a queue that Accept pops. A failed handshake (a plaintext
//     client, a TLS 1.2 client, a timeout) is logged and dropped; the
//     listener keeps serving. At most Options.MaxPending connections may be
//     handshaking or queued; further ones are closed at once.
//   - A Conn has a reader goroutine, which fills a receive buffer from the
//     network, and a writer goroutine, which drains a send buffer to it.
//     Both buffers hold Options.BufferSize bytes.
//
// Back-pressure works both ways: while the receive buffer is full the
// reader stops reading, so the kernel's window closes and the peer's writes
// block; while the send buffer is full Send returns EAGAIN, and the guest
// waits. A peer that never reads fills only its own connection's buffer.
// Goroutines with nothing to do wait on a sync.Cond or in a network read,
// so idle connections cost no CPU. Every change of readiness (data, space,
// end of stream, error, a new connection) calls the function given to
// Notify.
//
// # Closing
//
// An HTTP server writes its response and closes the descriptor at once.
// Conn.Close therefore returns at once and loses nothing: the writer keeps
// flushing what the guest wrote, then ends the stream (TLS close_notify and
// a TCP FIN) and keeps reading and discarding what the peer still sends,
// until the peer closes too, so that the kernel does not reset a
// connection whose peer has not read the response yet. Options.CloseTimeout
// bounds all of it: then the connection is closed, whatever its state.
// Listener.Close stops accepting, drops queued connections, and returns
// once its goroutines have ended; connections already accepted live on
// until they are closed.
package tlsnet
