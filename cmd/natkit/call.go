package main

import (
	"net/url"
	"os"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/spf13/cobra"

	"github.com/natkit/natkit/probe/call"
	"github.com/natkit/natkit/probe/iceconfig"
	"github.com/natkit/natkit/signalserver/client"
	"github.com/natkit/natkit/signalserver/protocol"
)

func init() { register(newCallCmd) }

type callFlags struct {
	signal     string
	room       string
	roomToken  string
	iceServers string
	tokenURL   string
	user       string
	credential string
	secret     string
	relayOnly  bool
	iceTCP     bool
	iceTCPPort int
	audio      bool
	messages   int
	size       int
	timeout    time.Duration
	role       string
}

func newCallCmd(a *app) *cobra.Command {
	var f callFlags
	var out outputFlags
	cmd := &cobra.Command{
		Use:   "call [ICE-SERVER-URL...]",
		Short: "Place a real two-peer WebRTC call through a deployed signaling server and relay",
		Long: `call places a WebRTC call with a data channel through a signaling server
that speaks natkit's signaling protocol v1 (natkit signal), and reports the
verdict and the call's timeline: candidates, signaling, ICE and connection
states, the selected pair (direct or relayed, and through whose relay), DTLS
and SCTP up, data-channel RTT and lost messages.

By default it runs both peers in this process. With --role offer or
--role answer it runs one, so that two machines call each other through the
deployment: start the answerer first, then the offerer, with the same room.

ICE servers come from URLs with --user/--credential, --ice-servers FILE,
--token-url (e.g. natkit signal's /v1/ice-servers), or --secret to mint TURN
REST credentials; without any, the iceServers of the server's joined
message are used.`,
		Example: `  natkit call --signal ws://127.0.0.1:8080/ws --room test --token-url http://127.0.0.1:8080/v1/ice-servers
  natkit call --signal wss://sig.example.com/ws --room r1 turn:turn.example.com:3478 --user u --credential p --relay-only
  natkit call --signal wss://sig.example.com/ws --room r1 --role answer   # on machine B, first
  natkit call --signal wss://sig.example.com/ws --room r1 --role offer    # on machine A`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCall(cmd, a, args, &f, &out)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.signal, "signal", "", "signaling server WebSocket URL, ws://host/ws or wss://host/ws (required)")
	fl.StringVar(&f.room, "room", "", "room to meet in (required)")
	fl.StringVar(&f.roomToken, "room-token", "", "room token, when the server requires one (default $NATKIT_ROOM_TOKEN)")
	fl.StringVar(&f.iceServers, "ice-servers", "", "read ICE servers from FILE, or - for stdin")
	fl.StringVar(&f.tokenURL, "token-url", "", "GET the ICE servers from this URL (e.g. http://host/v1/ice-servers)")
	fl.StringVar(&f.user, "user", "", "TURN username for URLs given as arguments")
	fl.StringVar(&f.credential, "credential", "", "TURN password (default $NATKIT_TURN_PASSWORD)")
	fl.StringVar(&f.secret, "secret", "", "TURN REST shared secret: mint credentials locally (default $NATKIT_TURN_SECRET)")
	fl.BoolVar(&f.relayOnly, "relay-only", false, "ICE transport policy relay: only relayed candidates")
	fl.BoolVar(&f.iceTCP, "ice-tcp", false, "add ICE-TCP (RFC 6544) host candidates: passive ones on a TCP port, and active ones toward the other peer's")
	fl.IntVar(&f.iceTCPPort, "ice-tcp-port", 0, "TCP port of the passive ICE-TCP candidates, e.g. 443 (default: one the system picks; needs --ice-tcp)")
	fl.BoolVar(&f.audio, "audio", false, "add an Opus track of synthetic RTP from the offerer (both peers must use it)")
	fl.IntVar(&f.messages, "messages", 10, "data-channel probe messages the offerer sends (echoed by the answerer)")
	fl.IntVar(&f.size, "size", 64, "probe message size in bytes (16 to 65535)")
	fl.DurationVar(&f.timeout, "timeout", 30*time.Second, "give up if the call has not connected after this long; an answerer also waits this long for the offerer's bye")
	fl.StringVar(&f.role, "role", "both", "peers to run here: both, offer or answer")
	addOutputFlags(cmd, &out)
	_ = cmd.RegisterFlagCompletionFunc("role", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"both", "offer", "answer"}, cobra.ShellCompDirectiveNoFileComp
	})
	return cmd
}

func (f *callFlags) validate() error {
	u, err := url.Parse(f.signal)
	switch {
	case f.signal == "":
		return usageErrorf("--signal: required, e.g. ws://127.0.0.1:8080/ws")
	case err != nil:
		return usageErrorf("--signal %q: %v", f.signal, err)
	case u.Scheme != "ws" && u.Scheme != "wss":
		return usageErrorf("--signal %q: want a ws:// or wss:// URL", f.signal)
	case u.Host == "":
		return usageErrorf("--signal %q: no host", f.signal)
	case f.room == "":
		return usageErrorf("--room: required")
	}
	if err := protocol.ValidID("--room", f.room); err != nil {
		return usageError(err)
	}
	switch f.role {
	case "both", "offer", "answer":
	default:
		return usageErrorf("--role %q: want both, offer or answer", f.role)
	}
	if f.messages < 1 {
		return usageErrorf("--messages %d: want 1 or more", f.messages)
	}
	if f.size < 16 || f.size > 65535 {
		return usageErrorf("--size %d: want 16 to 65535", f.size)
	}
	if f.timeout <= 0 {
		return usageErrorf("--timeout %v: must be positive", f.timeout)
	}
	if f.iceTCPPort < 0 || f.iceTCPPort > 65535 {
		return usageErrorf("--ice-tcp-port %d: want 0 to 65535", f.iceTCPPort)
	}
	if f.iceTCPPort != 0 && !f.iceTCP {
		return usageErrorf("--ice-tcp-port %d: needs --ice-tcp", f.iceTCPPort)
	}
	return nil
}

func runCall(cmd *cobra.Command, a *app, args []string, f *callFlags, out *outputFlags) error {
	if err := out.validate(); err != nil {
		return err
	}
	if err := f.validate(); err != nil {
		return err
	}
	ctx := cmd.Context()
	if f.roomToken == "" {
		f.roomToken = os.Getenv("NATKIT_ROOM_TOKEN")
	}
	if !cmd.Flags().Changed("credential") && f.user != "" {
		f.credential = os.Getenv("NATKIT_TURN_PASSWORD")
	}
	if !cmd.Flags().Changed("secret") && f.user == "" && (len(args) > 0 || f.iceServers != "") {
		f.secret = os.Getenv("NATKIT_TURN_SECRET")
	}
	var servers []webrtc.ICEServer
	if len(args) > 0 || f.iceServers != "" || f.tokenURL != "" {
		ss, err := iceconfig.Load(ctx, iceconfig.Input{
			URLs: args, Username: f.user, Credential: f.credential, File: f.iceServers,
			Stdin: a.stdin, TokenURL: f.tokenURL, Secret: f.secret,
		})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return usageError(err)
		}
		servers = ss.WebRTC()
	}
	bar := a.progress(ctx, "call", 0)
	res, err := client.Call(ctx, client.CallConfig{
		URL: f.signal, Room: f.room, Token: f.roomToken, Role: f.role, ConnectTimeout: f.timeout,
		Peer:    call.PeerConfig{ICEServers: servers, RelayOnly: f.relayOnly, ICETCP: f.iceTCP, ICETCPPort: f.iceTCPPort, Audio: f.audio, Logger: vnetPionLogger(a)},
		Probe:   call.ProbeConfig{Count: f.messages, Size: f.size},
		OnEvent: func(e call.Event) { bar.SetStatus(e.Peer + " " + string(e.Kind) + " " + e.Text()) },
	})
	bar.Done()
	if res == nil {
		return err
	}
	rep := res.Report(call.ReportOptions{Name: "room " + f.room, ExpectRelay: f.relayOnly, CheckAudio: f.role == client.RoleBoth})
	rep.Target = redactSignal(f.signal)
	rep.Finish()
	if ctx.Err() != nil {
		rep.Interrupt()
	}
	return a.emit(rep, out)
}

func redactSignal(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	u.RawQuery, u.User = "", nil
	return u.String()
}
