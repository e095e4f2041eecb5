//go:build !linux

package signalserver

import (
	"errors"
	"net"
)

// Other systems keep coder/websocket's reader goroutine per connection.
const evLoopsAvailable = false

type evLoop struct{}

func newEvLoop(*Server) (*evLoop, error) {
	return nil, errors.New("signal: event loops need Linux")
}

func takeFD(net.Conn) (int, bool)  { return -1, false }
func closeFD(int)                  {}
func (l *evLoop) schedule(*wsConn) {}
func (l *evLoop) stop()            {}
