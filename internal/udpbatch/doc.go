// Package udpbatch moves many datagrams through one non-blocking UDP socket
// per system call: Recv fills a Batch's slots with one recvmmsg, Send sends
// the slots a caller queued with one sendmmsg. A Sender does the same
// across sockets, one datagram each (a load generator's allocations, a
// relay's relayed sockets): an io_uring whose Flush submits every queued
// send with one io_uring_enter.
//
// The sockets are ordinary UDP sockets opened with SOCK_NONBLOCK and driven
// by the caller's own epoll loop, outside Go's network poller (the relay's
// event loops, the load engine's reactors). Every call passes MSG_DONTWAIT
// and never blocks: an empty receive queue or a full send buffer is
// unix.EAGAIN, for the caller's loop to decide.
//
// Linux only, and IPv4 only for addresses: both callers serve IPv4 sockets
// on this path and keep Go's network stack for the rest.
package udpbatch
