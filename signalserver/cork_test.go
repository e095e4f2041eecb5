package signalserver

import (
	"bytes"
	"errors"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
)

// recordConn records every Write as one system call would send it.
type recordConn struct {
	net.Conn
	writes [][]byte
	err    error
}

func (r *recordConn) Write(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

func TestCorkConn(t *testing.T) {
	big := bytes.Repeat([]byte("x"), maxCorked)
	tests := []struct {
		name   string
		corked bool
		frames [][]byte
		fail   error
		want   [][]byte // the writes the network sees
		err    error
	}{
		{name: "uncorked writes pass through", frames: [][]byte{[]byte("a"), []byte("b")},
			want: [][]byte{[]byte("a"), []byte("b")}},
		{name: "a batch is one write, in order", corked: true, frames: [][]byte{[]byte("a"), []byte("bc"), []byte("d")},
			want: [][]byte{[]byte("abcd")}},
		{name: "an empty batch writes nothing", corked: true},
		{name: "a full batch is written early", corked: true, frames: [][]byte{[]byte("a"), big, []byte("z")},
			want: [][]byte{append([]byte("a"), big...), []byte("z")}},
		{name: "a failed write is reported", corked: true, frames: [][]byte{[]byte("a")}, fail: net.ErrClosed, err: net.ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := &recordConn{err: tt.fail}
			cc := &corkConn{Conn: rc}
			if tt.corked {
				cc.cork()
			}
			for _, f := range tt.frames {
				n, err := cc.Write(f)
				require.NoError(t, err)
				require.Equal(t, len(f), n)
			}
			var err error
			if tt.corked {
				err = cc.uncork()
			}
			if tt.err != nil {
				require.True(t, errors.Is(err, tt.err), "got %v", err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, rc.writes)
			require.Nil(t, cc.buf, "the batch buffer goes back to the pool")
			// After uncork, writes go straight through again.
			_, err = cc.Write([]byte("after"))
			require.NoError(t, err)
			require.Equal(t, []byte("after"), rc.writes[len(rc.writes)-1])
		})
	}
}
