package turnconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/pion/transport/v3/stdnet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		err  error
		want Problem
	}{
		{fmt.Errorf("x: %w", x509.UnknownAuthorityError{}), ProblemUnknownAuthority},
		{x509.HostnameError{Certificate: &x509.Certificate{}, Host: "a"}, ProblemWrongName},
		{x509.CertificateInvalidError{Reason: x509.Expired}, ProblemExpired},
		{x509.CertificateInvalidError{Reason: x509.NotAuthorizedToSign}, ProblemInvalidCert},
		{tls.RecordHeaderError{}, ProblemNotSecure},
		{io.EOF, ProblemNotSecure},
		{syscall.ECONNRESET, ProblemNotSecure},
		{fmt.Errorf("read: %w", syscall.ECONNREFUSED), ProblemRefused},
		{context.DeadlineExceeded, ProblemTimeout},
		{tls.AlertError(40), ProblemAlert},
		{errors.New("something else"), ProblemOther},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Classify(tt.err), "%v", tt.err)
		assert.NotEmpty(t, Describe(tt.err, "DTLS", "relay.test"))
	}
	assert.Contains(t, Describe(tls.RecordHeaderError{}, "DTLS", "h"), "did not answer with DTLS")
}

func TestConfigErrors(t *testing.T) {
	n, err := stdnet.NewNet()
	require.NoError(t, err)
	for _, cfg := range []Config{
		{Network: UDP, Addr: "127.0.0.1:1"},
		{Net: n, Network: "sctp", Addr: "127.0.0.1:1"},
		{Net: n, Network: TCP, Addr: "127.0.0.1"},
		{Net: n, Network: TCP, Addr: "127.0.0.1:1", Family: "5"},
	} {
		_, err := Dial(context.Background(), cfg)
		require.ErrorIs(t, err, ErrConfig, "%+v", cfg)
	}
}

// A refused TCP connect is a connect DialError; a TLS ClientHello to a
// plain TCP server that closes is a handshake DialError classified as
// not TLS at all; a DTLS ClientHello to a closed UDP port is refused.
func TestDialFailures(t *testing.T) {
	n, err := stdnet.NewNet()
	require.NoError(t, err)
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	closed := l.Addr().String()
	require.NoError(t, l.Close())
	_, err = Dial(context.Background(), Config{Net: n, Network: TCP, Addr: closed, Timeout: time.Second})
	var de *DialError
	require.ErrorAs(t, err, &de)
	require.False(t, de.Handshake)
	require.ErrorIs(t, err, ErrConnect)

	plain, err := net.Listen("tcp4", "127.0.0.1:0")
	require.NoError(t, err)
	defer plain.Close()
	go func() {
		for {
			c, err := plain.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("not tls at all, just bytes\r\n"))
			_ = c.Close()
		}
	}()
	_, err = Dial(context.Background(), Config{Net: n, Network: TLS, Addr: plain.Addr().String(), Timeout: time.Second})
	require.ErrorAs(t, err, &de)
	require.True(t, de.Handshake)
	require.Equal(t, ProblemNotSecure, Classify(de.Err))

	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	udpClosed := pc.LocalAddr().String()
	require.NoError(t, pc.Close())
	_, err = Dial(context.Background(), Config{Net: n, Network: DTLS, Addr: udpClosed, Timeout: 2 * time.Second})
	require.ErrorAs(t, err, &de)
	require.True(t, de.Handshake)
	require.Equal(t, ProblemRefused, Classify(de.Err), "%v", de.Err)
}
