//go:build linux

package epollwake

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestWakeEndsWaitAndDrainRearms(t *testing.T) {
	epfd, evfd, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(epfd)
	defer unix.Close(evfd)
	var evs [4]unix.EpollEvent
	if n, _ := unix.EpollWait(epfd, evs[:], 0); n != 0 {
		t.Fatalf("ready before a wake: %d", n)
	}
	Wake(evfd)
	n, err := unix.EpollWait(epfd, evs[:], 1000)
	if err != nil || n != 1 || int(evs[0].Fd) != evfd {
		t.Fatalf("after Wake: n=%d err=%v", n, err)
	}
	Drain(evfd)
	if n, _ := unix.EpollWait(epfd, evs[:], 0); n != 0 {
		t.Fatalf("ready after Drain: %d", n)
	}
}
