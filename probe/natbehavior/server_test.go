package natbehavior

import (
	"net"
	"sync"
	"testing"

	"github.com/pion/stun/v3"
	"github.com/pion/transport/v3"
)

// rfc5780Server is a test-only RFC 5780 STUN responder on two IPs and two
// ports of a transport.Net. It honours CHANGE-REQUEST and RESPONSE-PORT and
// returns XOR-MAPPED-ADDRESS, OTHER-ADDRESS and RESPONSE-ORIGIN. With
// noOther it behaves like a plain RFC 5389 server on the primary address.
type rfc5780Server struct {
	conns   [2][2]net.PacketConn // [ip][port]
	noOther bool
	wg      sync.WaitGroup
}

func startRFC5780(t *testing.T, n transport.Net, ips [2]string, ports [2]int, noOther bool) *rfc5780Server {
	t.Helper()
	s := &rfc5780Server{noOther: noOther}
	for i, ip := range ips {
		for j, port := range ports {
			c, err := n.ListenPacket("udp4", (&net.UDPAddr{IP: net.ParseIP(ip), Port: port}).String())
			if err != nil {
				t.Fatalf("listen %s:%d: %v", ip, port, err)
			}
			s.conns[i][j] = c
		}
	}
	for i := range 2 {
		for j := range 2 {
			s.wg.Add(1)
			go s.serve(i, j)
		}
	}
	t.Cleanup(s.close)
	return s
}

func (s *rfc5780Server) close() {
	for i := range 2 {
		for j := range 2 {
			_ = s.conns[i][j].Close()
		}
	}
	s.wg.Wait()
}

func (s *rfc5780Server) serve(i, j int) {
	defer s.wg.Done()
	c := s.conns[i][j]
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return
		}
		req := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if req.Decode() != nil || req.Type != stun.BindingRequest {
			continue
		}
		src := from.(*net.UDPAddr)
		si, sj := i, j
		if v, err := req.Get(stun.AttrChangeRequest); err == nil && len(v) == 4 {
			if s.noOther {
				resp, _ := stun.Build(stun.NewTransactionIDSetter(req.TransactionID), stun.NewType(stun.MethodBinding, stun.ClassErrorResponse),
					stun.ErrorCodeAttribute{Code: stun.CodeUnknownAttribute, Reason: []byte("Unknown Attribute")}, stun.Fingerprint)
				_, _ = c.WriteTo(resp.Raw, src)
				continue
			}
			if v[3]&ChangeIP != 0 {
				si = 1 - i
			}
			if v[3]&ChangePort != 0 {
				sj = 1 - j
			}
		}
		dst := src
		if v, err := req.Get(stun.AttrResponsePort); err == nil && len(v) >= 2 {
			dst = &net.UDPAddr{IP: src.IP, Port: int(v[0])<<8 | int(v[1])}
		}
		out := s.conns[si][sj]
		origin := out.LocalAddr().(*net.UDPAddr)
		setters := []stun.Setter{stun.NewTransactionIDSetter(req.TransactionID), stun.BindingSuccess,
			&stun.XORMappedAddress{IP: src.IP, Port: src.Port}}
		if !s.noOther {
			oa := s.conns[1-i][1-j].LocalAddr().(*net.UDPAddr)
			setters = append(setters, &stun.OtherAddress{IP: oa.IP, Port: oa.Port}, &stun.ResponseOrigin{IP: origin.IP, Port: origin.Port})
		}
		setters = append(setters, stun.Fingerprint)
		resp, err := stun.Build(setters...)
		if err != nil {
			continue
		}
		_, _ = out.WriteTo(resp.Raw, dst)
	}
}
