package audit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"github.com/pion/dtls/v3"

	"github.com/natkit/natkit/internal/turnconn"
	"github.com/natkit/natkit/probe/iceconfig"
)

// expirySoon is how close to its expiry a certificate draws a finding.
const expirySoon = 14 * 24 * time.Hour

var tlsVersions = []struct {
	v    uint16
	name string
	old  bool
}{
	{tls.VersionTLS10, "TLS 1.0", true},
	{tls.VersionTLS11, "TLS 1.1", true},
	{tls.VersionTLS12, "TLS 1.2", false},
	{tls.VersionTLS13, "TLS 1.3", false},
}

// handshake connects once with exactly version v.
func (a *auditor) handshake(ctx context.Context, v uint16) (tls.ConnectionState, error) {
	cfg := a.verifyTLS()
	cfg.MinVersion, cfg.MaxVersion = v, v
	conn, err := a.dialWith(ctx, turnconn.TLS, cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer conn.Close()
	tc, _ := conn.Conn.(*tls.Conn)
	return tc.ConnectionState(), nil
}

// dtlsCertificates completes one DTLS handshake (DTLS 1.2, the only
// version pion/dtls speaks, and the one RFC 7350 servers run) and returns
// the server's chain.
func (a *auditor) dtlsCertificates(ctx context.Context) ([]*x509.Certificate, error) {
	conn, err := a.dialWith(ctx, turnconn.DTLS, a.verifyTLS())
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	dc, _ := conn.Conn.(*dtls.Conn)
	state, ok := dc.ConnectionState()
	if !ok {
		return nil, fmt.Errorf("dtls handshake with %s: no connection state", a.cfg.Server.Address())
	}
	var certs []*x509.Certificate
	for _, raw := range state.PeerCertificates {
		cert, err := x509.ParseCertificate(raw)
		if err != nil {
			return nil, fmt.Errorf("dtls certificate from %s: %w", a.cfg.Server.Address(), err)
		}
		certs = append(certs, cert)
	}
	return certs, nil
}

// checkTLS reports the TLS versions a turns: server accepts (DTLS: that
// it completes a DTLS 1.2 handshake) and judges its certificate: chain,
// name and expiry.
func (a *auditor) checkTLS(ctx context.Context) Check {
	c := Check{ID: "tls", Name: "TLS versions and certificate", Severity: SeverityMedium, Fix: fixTLS}
	start := time.Now()
	defer func() { c.Duration = time.Since(start) }()
	if a.cfg.Server.Scheme != iceconfig.SchemeTURNS {
		c.Verdict, c.Severity, c.Message = VerdictSkip, SeverityInfo, "not a turns: server"
		return c
	}
	var accepted, old []string
	var certs []*x509.Certificate
	if a.cfg.Server.DTLS() {
		c.Name = "DTLS certificate"
		ex := Exchange{Request: "DTLS 1.2 ClientHello"}
		chain, err := a.dtlsCertificates(ctx)
		if err != nil {
			ex.Answer = "refused: " + err.Error()
		} else {
			ex.Answer, accepted, certs = "handshake completed", []string{"DTLS 1.2"}, chain
		}
		c.Evidence = append(c.Evidence, ex)
	} else {
		for _, tv := range tlsVersions {
			st, err := a.handshake(ctx, tv.v)
			ex := Exchange{Request: "TLS ClientHello offering only " + tv.name}
			if err != nil {
				ex.Answer = "refused: " + err.Error()
			} else {
				ex.Answer = "handshake completed"
				accepted = append(accepted, tv.name)
				if tv.old {
					old = append(old, tv.name)
				}
				certs = st.PeerCertificates
			}
			c.Evidence = append(c.Evidence, ex)
		}
	}
	if len(accepted) == 0 {
		c.Verdict, c.Message = VerdictError, "no "+map[bool]string{true: "DTLS", false: "TLS"}[a.cfg.Server.DTLS()]+" handshake succeeded"
		return c
	}
	var problems []string
	sev := SeverityInfo
	worsen := func(s Severity, p string) {
		problems = append(problems, p)
		if s.rank() > sev.rank() {
			sev = s
		}
	}
	if len(old) > 0 {
		worsen(SeverityMedium, "accepts "+strings.Join(old, " and ")+" (deprecated by RFC 8996)")
	}
	if len(certs) == 0 {
		worsen(SeverityHigh, "sent no certificate")
	} else {
		leaf := certs[0]
		var chain []string
		for _, cert := range certs {
			chain = append(chain, fmt.Sprintf("%q issued by %q", cert.Subject.CommonName, cert.Issuer.CommonName))
		}
		names := append([]string(nil), leaf.DNSNames...)
		for _, ip := range leaf.IPAddresses {
			names = append(names, ip.String())
		}
		c.Evidence = append(c.Evidence, Exchange{Request: "certificate chain", Answer: fmt.Sprintf("%s; names %s; valid until %s", strings.Join(chain, " ← "), strings.Join(names, ", "), leaf.NotAfter.UTC().Format(time.RFC3339))})
		now := time.Now()
		switch left := leaf.NotAfter.Sub(now); {
		case left <= 0:
			worsen(SeverityHigh, "the certificate expired on "+leaf.NotAfter.UTC().Format("2006-01-02"))
		case left < expirySoon:
			worsen(SeverityMedium, fmt.Sprintf("the certificate expires in %s", left.Round(time.Hour)))
		}
		inter := x509.NewCertPool()
		for _, cert := range certs[1:] {
			inter.AddCert(cert)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: a.cfg.Server.Host, Roots: a.cfg.RootCAs, Intermediates: inter, CurrentTime: now}); err != nil {
			worsen(SeverityMedium, "the certificate does not verify for "+a.cfg.Server.Host+": "+err.Error())
		}
	}
	if len(problems) == 0 {
		c.Verdict, c.Severity = VerdictPass, SeverityInfo
		c.Message = "accepts " + strings.Join(accepted, " and ") + " only; the certificate verifies for " + a.cfg.Server.Host
		return c
	}
	c.Verdict, c.Severity = VerdictFinding, sev
	c.Message = strings.Join(problems, "; ")
	return c
}
