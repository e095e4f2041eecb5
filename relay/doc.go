// Package relay is natkit's reference STUN/TURN relay: pion/turn's server
// with RFC 5780 NAT behaviour discovery, static and TURN REST credentials,
// a safe-by-default peer policy, quotas and Prometheus metrics. It runs on
// any transport.Net, so the same relay serves loopback tests, the CLI
// (`natkit relay`) and pion's vnet scenarios.
//
// # Starting a relay
//
// On loopback with a static user, on a free port:
//
//	srv, err := relay.New(relay.Config{
//		Listen: []relay.Listener{{Network: "udp", Addr: "127.0.0.1:0"}},
//		Users:  map[string]string{"alice": "secret"},
//	})
//	if err != nil { ... }
//	defer srv.Close()
//	addr := srv.Addrs()[0].Addr // "127.0.0.1:NNNNN"
//
// Inside pion's vnet, give the relay's *vnet.Net as Config.Net and listen
// on one of its static IPs. With two IPs, AltIP turns on RFC 5780:
//
//	nw, _ := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"1.2.3.4", "1.2.3.5"}})
//	_ = wan.AddNet(nw)
//	srv, err := relay.New(relay.Config{
//		Net:     nw,
//		Listen:  []relay.Listener{{Network: "udp", Addr: "1.2.3.4:3478"}},
//		AltIP:   net.ParseIP("1.2.3.5"),
//		Secrets: []string{"s3cret"},
//	})
//
// vnet has no TCP, so only "udp" listeners work there (a "tcp" listener
// fails with ErrUnsupported).
//
// Relayed addresses take RelayIP's family: an IPv6 RelayIP (e.g. listening
// on [::1]) relays over IPv6. With an IPv4 RelayIP and RelayIPv6 (default:
// the first IPv6 listener), Allocates carrying REQUESTED-ADDRESS-FAMILY
// IPv6 get an IPv6 relayed address (RFC 6156); a family the relay lacks
// gets 440. Addrs returns the listeners with their real
// ports; ICEServers returns iceconfig.Servers with fresh credentials, which
// the probes take as they are and which marshal to RTCIceServer JSON.
//
// # Credentials
//
// Config.Users are static long-term credentials. Config.Secrets are TURN
// REST shared secrets exactly as coturn's use-auth-secret: the username is
// "expiry:user" (a Unix time), the password base64(HMAC-SHA1(secret,
// username)); mint them with turn.GenerateLongTermTURNRESTCredentials, or
// take ready-made ICE servers from Server.ICEServers. Several secrets are
// accepted at once for rotation. Wrong or expired credentials get 401, and
// so does a REST username expiring more than MaxRESTTTL ahead.
//
// Nonces are bound to the client's 5-tuple and expire after
// NonceLifetime: a request replayed from elsewhere, or signed with an old
// nonce, gets 438 Stale Nonce with a fresh one.
//
// # RFC 5780
//
// Every Binding request (on UDP and TCP listeners) is answered by the relay
// itself with XOR-MAPPED-ADDRESS, MAPPED-ADDRESS, RESPONSE-ORIGIN and, with
// AltIP, OTHER-ADDRESS. With AltIP the first UDP listener becomes a set of
// four sockets: (IP, port), (IP, AltPort), (AltIP, port), (AltIP, AltPort);
// AltPort defaults to port+1, and Server.OtherAddress reports (AltIP,
// AltPort). CHANGE-REQUEST (change IP, change port, both) and RESPONSE-PORT
// are honoured over UDP. Without AltIP a CHANGE-REQUEST that asks for a
// change gets 420 Unknown Attribute, and plain Binding still works.
//
// # Peer policy
//
// CreatePermission and ChannelBind toward loopback, unspecified, private
// (RFC 1918, fc00::/7, fec0::/10), CGNAT, link-local, multicast, broadcast
// and reserved (240/4, 192.0.0.0/24, 198.18.0.0/15) addresses get 403
// Forbidden, including their IPv6 encodings (IPv4-mapped, SIIT,
// IPv4-compatible, 6to4, NAT64, Teredo, ISATAP). PeerPolicy.Allow opens
// prefixes (allow wins), PeerPolicy.Deny refuses more. The relay's own
// listening addresses and the allocation's own relayed address are refused
// whatever the policy (rule self), and Send indications toward them are
// dropped.
//
// # TCP relaying (RFC 6062)
//
// With Config.TCPRelay, an Allocate with REQUESTED-TRANSPORT=TCP over a
// TCP or TLS listener gets a relayed TCP address; Connect makes the relay
// connect to a peer from it (403 for a peer the policy refuses, 446 for a
// second connection to one peer, 447 when the connection fails), a peer
// with a permission that connects in is announced with ConnectionAttempt,
// and ConnectionBind on a new connection turns that connection into the
// peer's byte stream. Without TCPRelay such Allocates get 442 with a reason
// naming --tcp-relay; over UDP, 400. REQUESTED-ADDRESS-FAMILY picks the
// relayed family as for UDP allocations (IPv6 on RelayIPv6), and a Connect
// or CreatePermission toward the other family gets 443. pion's server has
// none of this: it is natkit's (tcpalloc.go).
//
// # Limits
//
// Relayed ports are tried across the whole PortMin–PortMax range, so an
// allocation fails (508) only when the range is full. MaxAllocations
// refuses new allocations with 508 Insufficient Capacity,
// UserQuota per user with 486 Allocation Quota Reached, MaxLifetime caps
// the granted LIFETIME, BandwidthLimit drops relayed packets above a byte
// rate per allocation. Drain refuses new allocations and waits for the
// live ones to end.
//
// # Event loops
//
// On the real network on Linux, IPv4 UDP listening and relayed sockets are
// non-blocking UDP sockets served by Config.Loops event loops (epoll, recvmmsg,
// sendmmsg) that relay ChannelData of known channels in place, in both
// directions, without a goroutine per packet; everything else is queued to
// pion. vnet, IPv6 and other systems use Go sockets and pion's reader
// goroutines.
//
// # Observability
//
// Server.Stats returns the counters; Server.Gatherer serves them to
// Prometheus (natkit_relay_allocations_active, _allocations_total{outcome},
// _auth_failures_total{reason}, _permissions_denied_total{rule},
// _bad_packets_total{reason}, _packets_total{direction},
// _bytes_total{direction}, _bandwidth_drops_total, _binding_requests_total,
// _stale_nonces_total, _auth_timeouts_total, _accept_errors_total).
// Config.Logger gets structured logs; every allocation is logged at debug
// with user, 5-tuple and lifetime. Secrets and passwords are never logged.
// Config.OnAuthFailure is called with a typed AuthFailure for every 401,
// e.g. for a simulated topology to tell which side's credentials failed.
//
// # Bad input
//
// Malformed STUN, a FINGERPRINT that does not match, truncated
// ChannelData, unknown comprehension-required attributes (420) and
// oversized or non-STUN frames on TCP/TLS (the connection is closed) are
// counted in BadPackets and logged; none of them reaches pion's handlers.
// TCP/TLS connections that send no request with valid credentials within
// AuthTimeout are closed; accept errors (EMFILE…) are retried with a
// back-off, so the listeners outlive descriptor exhaustion.
package relay
