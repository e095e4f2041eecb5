package lab

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// nat64Device is a NAT64 translator running on a TUN device in a router's
// namespace. The kernel routes NAT64Prefix and the pool address into the
// device; each packet read is translated and written back, and the kernel
// routes the result. The device exists while its file is open, so closing
// it (or the process dying, or the namespace being deleted) removes it.
type nat64Device struct {
	name string
	f    *os.File
	x    *nat64
	done chan struct{}
	once sync.Once
}

// startNAT64 creates the TUN device name in n and starts translating for
// pool.
func startNAT64(n *Net, name string, pool netip.Addr) (*nat64Device, error) {
	fd := -1
	err := n.Do(func() error {
		var err error
		fd, err = unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) {
			// A container without the tun device: the NAT64 preset cannot
			// run here, the others can.
			return &MissingError{Missing: []Missing{{What: "device /dev/net/tun (the tun kernel module, for the NAT64 preset)"}}}
		}
		if err != nil {
			return fmt.Errorf("open /dev/net/tun: %w", err)
		}
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			return err
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			return fmt.Errorf("TUNSETIFF %s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		if fd >= 0 {
			_ = unix.Close(fd)
		}
		return nil, err
	}
	// Non-blocking, so the runtime poller serves Read and Close wakes it.
	d := &nat64Device{name: name, f: os.NewFile(uintptr(fd), "tun "+name), x: newNAT64(pool), done: make(chan struct{})}
	go d.loop()
	return d, nil
}

func (d *nat64Device) loop() {
	defer close(d.done)
	buf := make([]byte, nat64MaxPacket)
	for {
		n, err := d.f.Read(buf)
		if err != nil {
			// Closed, or the device went with its namespace (the poller
			// handles EAGAIN itself): nothing more will come.
			return
		}
		out, err := d.x.translate(buf[:n])
		if err != nil {
			continue // counted in the stats
		}
		_, _ = d.f.Write(out) // a full queue drops the packet, as a router does
	}
}

// Close stops translating and removes the device.
func (d *nat64Device) Close() error {
	var err error
	d.once.Do(func() {
		err = d.f.Close()
		<-d.done
	})
	return err
}
