//go:build !linux

package relay

import "syscall"

// reusePortControl is nil here: Connect dials from an ephemeral port.
var reusePortControl func(network, address string, c syscall.RawConn) error
