package lab

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/pion/transport/v3"
	"golang.org/x/sys/unix"
)

// netnsDir is where `ip netns` keeps its named namespaces.
const netnsDir = "/run/netns"

// Net is a transport.Net whose sockets live in one network namespace: each
// socket is created on a thread switched into the namespace, and a socket
// stays in the namespace it was created in. So the relay, the probes and
// the call engine run in-process and unchanged inside the lab.
type Net struct {
	name string
	fd   int
	// hosts is the lab's resolver for this namespace (e.g. the relay's
	// name, with DNS64 synthesis on a NAT64 side), set before the Net is
	// handed out; other names go to the system resolver.
	hosts map[string][]netip.Addr
}

var _ transport.Net = (*Net)(nil)

// OpenNet opens the named namespace (as listed by `ip netns list`). Close
// it when done.
func OpenNet(name string) (*Net, error) {
	fd, err := unix.Open(filepath.Join(netnsDir, name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open network namespace %s: %w", name, err)
	}
	return &Net{name: name, fd: fd}, nil
}

// Name is the namespace's name.
func (n *Net) Name() string { return n.name }

// Close releases the namespace handle; sockets already made keep working.
func (n *Net) Close() error {
	if n.fd < 0 {
		return nil
	}
	err := unix.Close(n.fd)
	n.fd = -1
	return err
}

// Do runs fn on a thread inside the namespace. Sockets fn creates belong to
// the namespace; fn must not start goroutines that expect to be inside it.
func (n *Net) Do(fn func() error) error {
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns %s: open current namespace: %w", n.name, err)
	}
	defer unix.Close(orig)
	if err := unix.Setns(n.fd, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns %s: setns: %w", n.name, err)
	}
	ferr := fn()
	if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
		// The thread stays locked, so the runtime retires it with the
		// goroutine instead of reusing it in the wrong namespace.
		return fmt.Errorf("netns %s: switch back: %w", n.name, err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// ListenPacket implements transport.Net.
func (n *Net) ListenPacket(network, address string) (c net.PacketConn, err error) {
	err = n.Do(func() (e error) { c, e = net.ListenPacket(network, address); return e }) //nolint:noctx
	return c, err
}

// ListenUDP implements transport.Net.
func (n *Net) ListenUDP(network string, laddr *net.UDPAddr) (c transport.UDPConn, err error) {
	err = n.Do(func() (e error) { c, e = net.ListenUDP(network, laddr); return e })
	if err != nil {
		return nil, err
	}
	return c, nil
}

// ListenTCP implements transport.Net.
func (n *Net) ListenTCP(network string, laddr *net.TCPAddr) (transport.TCPListener, error) {
	var l *net.TCPListener
	err := n.Do(func() (e error) { l, e = net.ListenTCP(network, laddr); return e })
	if err != nil {
		return nil, err
	}
	return tcpListener{l}, nil
}

type tcpListener struct{ *net.TCPListener }

func (l tcpListener) AcceptTCP() (transport.TCPConn, error) { return l.TCPListener.AcceptTCP() }

// Dial implements transport.Net.
func (n *Net) Dial(network, address string) (c net.Conn, err error) {
	return n.CreateDialer(&net.Dialer{}).Dial(network, address)
}

// lookup resolves a name of the lab's resolver for network ("udp4",
// "tcp6", "udp", ...): the addresses of that family; for either family,
// IPv4 first when resolving (Go's Resolve*Addr pick the first IPv4
// address of a name), IPv6 first when dialing (RFC 6724's order, as
// Go's dialer tries them). ok is false for other names.
func (n *Net) lookup(network, address string, dialing bool) (addrs []netip.AddrPort, ok bool, err error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, false, nil //nolint:nilerr // not host:port: the system resolver says what is wrong
	}
	ips, ok := n.hosts[host]
	if !ok {
		return nil, false, nil
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, true, &net.AddrError{Err: "invalid port", Addr: address}
	}
	want4, want6 := !strings.HasSuffix(network, "6"), !strings.HasSuffix(network, "4")
	for _, six := range []bool{dialing, !dialing} {
		for _, ip := range ips {
			if ip.Is6() == six && ((six && want6) || (!six && want4)) {
				addrs = append(addrs, netip.AddrPortFrom(ip, uint16(p)))
			}
		}
	}
	if len(addrs) == 0 {
		return nil, true, &net.DNSError{Err: "no suitable address found", Name: host, IsNotFound: true}
	}
	return addrs, true, nil
}

// DialUDP implements transport.Net.
func (n *Net) DialUDP(network string, laddr, raddr *net.UDPAddr) (transport.UDPConn, error) {
	var c *net.UDPConn
	err := n.Do(func() (e error) { c, e = net.DialUDP(network, laddr, raddr); return e })
	if err != nil {
		return nil, err
	}
	return c, nil
}

// DialTCP implements transport.Net.
func (n *Net) DialTCP(network string, laddr, raddr *net.TCPAddr) (transport.TCPConn, error) {
	var c *net.TCPConn
	err := n.Do(func() (e error) { c, e = net.DialTCP(network, laddr, raddr); return e })
	if err != nil {
		return nil, err
	}
	return c, nil
}

// ResolveIPAddr implements transport.Net.
func (n *Net) ResolveIPAddr(network, address string) (a *net.IPAddr, err error) {
	err = n.Do(func() (e error) { a, e = net.ResolveIPAddr(network, address); return e })
	return a, err
}

// ResolveUDPAddr implements transport.Net.
func (n *Net) ResolveUDPAddr(network, address string) (a *net.UDPAddr, err error) {
	if addrs, ok, err := n.lookup(network, address, false); ok {
		if err != nil {
			return nil, err
		}
		return net.UDPAddrFromAddrPort(addrs[0]), nil
	}
	err = n.Do(func() (e error) { a, e = net.ResolveUDPAddr(network, address); return e })
	return a, err
}

// ResolveTCPAddr implements transport.Net.
func (n *Net) ResolveTCPAddr(network, address string) (a *net.TCPAddr, err error) {
	if addrs, ok, err := n.lookup(network, address, false); ok {
		if err != nil {
			return nil, err
		}
		return net.TCPAddrFromAddrPort(addrs[0]), nil
	}
	err = n.Do(func() (e error) { a, e = net.ResolveTCPAddr(network, address); return e })
	return a, err
}

// Interfaces lists the namespace's interfaces with their addresses, read
// from inside it.
func (n *Net) Interfaces() ([]*transport.Interface, error) {
	var out []*transport.Interface
	err := n.Do(func() error {
		ifs, err := net.Interfaces()
		if err != nil {
			return err
		}
		for _, ifc := range ifs {
			t := transport.NewInterface(ifc)
			addrs, err := ifc.Addrs()
			if err != nil {
				return err
			}
			for _, a := range addrs {
				t.AddAddress(a)
			}
			out = append(out, t)
		}
		return nil
	})
	return out, err
}

// InterfaceByIndex implements transport.Net.
func (n *Net) InterfaceByIndex(index int) (*transport.Interface, error) {
	return n.findInterface(func(i *transport.Interface) bool { return i.Index == index }, fmt.Sprint("index=", index))
}

// InterfaceByName implements transport.Net.
func (n *Net) InterfaceByName(name string) (*transport.Interface, error) {
	return n.findInterface(func(i *transport.Interface) bool { return i.Name == name }, name)
}

func (n *Net) findInterface(match func(*transport.Interface) bool, what string) (*transport.Interface, error) {
	ifs, err := n.Interfaces()
	if err != nil {
		return nil, err
	}
	for _, i := range ifs {
		if match(i) {
			return i, nil
		}
	}
	return nil, fmt.Errorf("%w in %s: %s", transport.ErrInterfaceNotFound, n.name, what)
}

// CreateDialer implements transport.Net: the dialer's sockets are made
// inside the namespace too.
func (n *Net) CreateDialer(d *net.Dialer) transport.Dialer { return nsDialer{n: n, d: d} }

type nsDialer struct {
	n *Net
	d *net.Dialer
}

// Dial tries each address of a name the lab resolves in turn, IPv6 first,
// as a system dialer does.
func (d nsDialer) Dial(network, address string) (c net.Conn, err error) {
	targets := []string{address}
	if addrs, ok, lerr := d.n.lookup(network, address, true); ok {
		if lerr != nil {
			return nil, &net.OpError{Op: "dial", Net: network, Err: lerr}
		}
		targets = targets[:0]
		for _, a := range addrs {
			targets = append(targets, a.String())
		}
	}
	for _, target := range targets {
		err = d.n.Do(func() (e error) { c, e = d.d.Dial(network, target); return e }) //nolint:noctx
		if err == nil {
			return c, nil
		}
	}
	return nil, err
}
