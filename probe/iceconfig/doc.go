// Package iceconfig turns every form of ICE server input a user has in hand
// into one typed list of servers.
//
// The forms are:
//
//   - URLs: stun:host[:port], turn:host[:port][?transport=udp|tcp],
//     turns:host[:port][?transport=tcp], with one username and credential
//     for every TURN URL (ParseURL, Input.URLs);
//   - an RTCConfiguration JSON object {"iceServers":[...]} or a bare array
//     of RTCIceServer objects (Parse);
//   - a provider token response carrying "ice_servers", whose entries use
//     "url" or "urls" (a string or an array), "username", "credential",
//     and an optional "ttl" that may be a number or a string (Parse);
//   - a TURN REST API response {"username","password","ttl","uris"} (Parse);
//   - a token URL to GET any of these from (Input.TokenURL);
//   - a shared secret to mint coturn-compatible REST credentials locally
//     (Input.Secret, MintREST).
//
// Load combines them: it reads the file, stdin or token URL, applies the
// shared secret or the --user/--credential pair, and checks that every TURN
// server has credentials before any packet is sent. Each Server remembers
// where it came from (Server.Source), so errors name the input and the
// field, e.g. `ice.json: iceServers[1].urls[0] "turn:x?transport=sctp":
// invalid transport "sctp": want udp or tcp`.
//
// A Server converts to a webrtc.ICEServer (Server.WebRTC, Servers.WebRTC)
// and to a pion ice URL (Server.ICEURL, Servers.ICEURLs). REST usernames
// ("expiry:user") carry their expiry time; Server.CheckExpiry reports an
// already expired one locally, before a TURN server is asked.
//
// Errors are ErrXxx values for errors.Is and *FieldError for errors.As.
package iceconfig
