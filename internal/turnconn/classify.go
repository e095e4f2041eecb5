package turnconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
)

// Problem is why a TLS or DTLS handshake failed.
type Problem string

// Problems, most specific first.
const (
	ProblemUnknownAuthority Problem = "unknown-authority"
	ProblemWrongName        Problem = "wrong-name"
	ProblemExpired          Problem = "expired"
	ProblemInvalidCert      Problem = "invalid-certificate"
	// ProblemNotSecure: the server answered with something that is not
	// TLS (or DTLS), or closed or reset the connection on the ClientHello.
	ProblemNotSecure Problem = "not-secure"
	// ProblemRefused: ICMP port unreachable (dtls) or a refused connect.
	ProblemRefused Problem = "refused"
	// ProblemTimeout: no answer to the ClientHello in time. Over UDP it is
	// also what a plain TURN port does, which ignores a DTLS record; the
	// caller tells the two apart with a Binding request.
	ProblemTimeout Problem = "timeout"
	ProblemAlert   Problem = "alert"
	ProblemOther   Problem = "other"
)

// Classify names the problem behind a handshake error.
func Classify(err error) Problem {
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	var rh tls.RecordHeaderError
	var ae tls.AlertError
	var fatal interface{ IsFatalOrCloseNotify() bool } // a DTLS alert
	switch {
	case errors.As(err, &ua):
		return ProblemUnknownAuthority
	case errors.As(err, &he):
		return ProblemWrongName
	case errors.As(err, &ci):
		if ci.Reason == x509.Expired {
			return ProblemExpired
		}
		return ProblemInvalidCert
	case errors.Is(err, syscall.ECONNREFUSED):
		return ProblemRefused
	case errors.As(err, &rh), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
		return ProblemNotSecure
	case errors.Is(err, context.DeadlineExceeded):
		return ProblemTimeout
	case errors.As(err, &ae), errors.As(err, &fatal):
		return ProblemAlert
	}
	return ProblemOther
}

// Describe words a handshake error for a diagnosis: which problem, and
// what to change. proto is "TLS" or "DTLS"; host the name the
// certificate should carry.
func Describe(err error, proto, host string) string {
	switch Classify(err) {
	case ProblemUnknownAuthority:
		return "the certificate is signed by an unknown authority (self-signed, or the intermediate certificate is missing from the server's chain)"
	case ProblemWrongName:
		var he x509.HostnameError
		errors.As(err, &he)
		return fmt.Sprintf("the certificate is not valid for %q (%v)", host, he)
	case ProblemExpired:
		var ci x509.CertificateInvalidError
		errors.As(err, &ci)
		return "the certificate has expired or is not yet valid: " + ci.Detail
	case ProblemInvalidCert:
		var ci x509.CertificateInvalidError
		errors.As(err, &ci)
		return "the certificate is invalid: " + ci.Error()
	case ProblemNotSecure:
		return fmt.Sprintf("the server did not answer with %s (is this a plain TURN port? use turn: instead of turns:)", proto)
	case ProblemRefused:
		return "nothing listens there (ICMP port unreachable or connection refused)"
	case ProblemTimeout:
		return "the handshake timed out"
	case ProblemAlert:
		return "the server sent " + proto + " alert: " + alertText(err)
	}
	return err.Error()
}

func alertText(err error) string {
	var ae tls.AlertError
	if errors.As(err, &ae) {
		return ae.Error()
	}
	var fatal interface {
		error
		IsFatalOrCloseNotify() bool
	}
	if errors.As(err, &fatal) {
		return strings.TrimPrefix(fatal.Error(), "alert: ")
	}
	return err.Error()
}
