package iceconfig

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// MaxInputSize bounds a file, stdin or token URL body.
const MaxInputSize = 1 << 20

// DefaultTokenTimeout bounds the GET of a token URL when the context has no
// earlier deadline.
const DefaultTokenTimeout = 10 * time.Second

// Input is every ICE server input a command accepts. Zero values are
// "not given". At least one of URLs, File or TokenURL must be set.
type Input struct {
	// URLs are stun:/turn:/turns: URLs from the command line. Default none.
	URLs []string
	// Username and Credential (--user/--credential) apply to every TURN
	// server that has no credentials of its own. Default none.
	Username   string
	Credential string
	// File is a JSON input file in any form Parse accepts; "-" reads
	// Stdin. Default none.
	File string
	// Stdin is read when File is "-". Default os.Stdin.
	Stdin io.Reader
	// TokenURL is an http(s) URL answering any form Parse accepts.
	// Default none.
	TokenURL string
	// HTTPClient fetches TokenURL. Default: a client with
	// DefaultTokenTimeout.
	HTTPClient *http.Client
	// Secret is a TURN REST shared secret (coturn's static-auth-secret):
	// credentials are minted locally for every TURN server without
	// credentials of its own. Default none.
	Secret string
	// RESTUser is the user part of minted usernames. Default
	// DefaultRESTUser ("natkit").
	RESTUser string
	// RESTTTL is the lifetime of minted credentials; negative mints expired
	// ones (for tests). Default DefaultRESTTTL (24h).
	RESTTTL time.Duration
}

func (in *Input) validate() error {
	if len(in.URLs) == 0 && in.File == "" && in.TokenURL == "" {
		return &FieldError{Source: "input", Err: fmt.Errorf("%w: give stun:/turn: URLs, --ice-servers FILE|- or --token-url URL", ErrNoServers)}
	}
	if in.Secret != "" && (in.Username != "" || in.Credential != "") {
		return &FieldError{Source: "--secret", Err: fmt.Errorf("%w: --secret mints its own credentials; drop --user/--credential", ErrConflict)}
	}
	if in.Secret == "" && (in.RESTUser != "" || in.RESTTTL != 0) {
		return &FieldError{Source: "--rest-user/--rest-ttl", Err: fmt.Errorf("%w: they only apply with --secret", ErrConflict)}
	}
	if (in.Username == "") != (in.Credential == "") {
		which := "--credential without --user"
		if in.Credential == "" {
			which = "--user without --credential"
		}
		return &FieldError{Source: "--user/--credential", Err: fmt.Errorf("%w: %s", ErrMissingCredentials, which)}
	}
	if in.TokenURL != "" {
		u, err := url.Parse(in.TokenURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return &FieldError{Source: "--token-url", Value: in.TokenURL, Err: fmt.Errorf("%w: want an http:// or https:// URL", ErrTokenURL)}
		}
	}
	return nil
}

// Load reads every input, applies credentials and checks that every TURN
// server has a username and a credential. The order is: URLs, then File,
// then TokenURL. Credentials given in a JSON input are kept; --user and
// --credential, or credentials minted from Secret, fill the TURN servers
// that have none. Expired REST usernames are not an error here (see
// Server.CheckExpiry): a probe reports them as a diagnosis.
func Load(ctx context.Context, in Input) (Servers, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	var out Servers
	for i, raw := range in.URLs {
		s, err := ParseURL(raw, fmt.Sprintf("argument %d", i+1))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if in.File != "" {
		data, source, err := in.readFile()
		if err != nil {
			return nil, err
		}
		ss, err := Parse(data, source)
		if err != nil {
			return nil, err
		}
		out = append(out, ss...)
	}
	if in.TokenURL != "" {
		data, err := in.fetch(ctx)
		if err != nil {
			return nil, err
		}
		ss, err := Parse(data, "--token-url "+redactURL(in.TokenURL))
		if err != nil {
			return nil, err
		}
		out = append(out, ss...)
	}
	if err := in.applyCredentials(out); err != nil {
		return nil, err
	}
	if err := out.CheckCredentials(); err != nil {
		return nil, err
	}
	return out, nil
}

func (in *Input) applyCredentials(ss Servers) error {
	user, cred := in.Username, in.Credential
	if in.Secret != "" {
		if len(ss.TURN()) == 0 {
			return &FieldError{Source: "--secret", Err: fmt.Errorf("%w: no turn: or turns: server to use it with", ErrSecret)}
		}
		var err error
		user, cred, err = MintREST(in.Secret, in.RESTUser, in.RESTTTL)
		if err != nil {
			return err
		}
	}
	if user == "" {
		return nil
	}
	exp, isREST := RESTExpiry(user)
	for i := range ss {
		s := &ss[i]
		if !s.IsTURN() || s.Username != "" || s.Credential != "" {
			continue
		}
		s.Username, s.Credential = user, cred
		if isREST {
			s.Expires = exp
		}
	}
	return nil
}

func (in *Input) readFile() ([]byte, string, error) {
	source := "--ice-servers " + in.File
	var r io.Reader
	if in.File == "-" {
		source = "--ice-servers - (stdin)"
		r = in.Stdin
		if r == nil {
			r = os.Stdin
		}
	} else {
		f, err := os.Open(in.File)
		if err != nil {
			return nil, source, &FieldError{Source: source, Err: fmt.Errorf("cannot read: %w", unwrapPath(err))}
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxInputSize+1))
	if err != nil {
		return nil, source, &FieldError{Source: source, Err: fmt.Errorf("cannot read: %w", err)}
	}
	if len(data) > MaxInputSize {
		return nil, source, &FieldError{Source: source, Err: fmt.Errorf("%w: larger than %d bytes", ErrJSON, MaxInputSize)}
	}
	return data, source, nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func (in *Input) fetch(ctx context.Context) ([]byte, error) {
	source := "--token-url " + redactURL(in.TokenURL)
	client := in.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: DefaultTokenTimeout}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.TokenURL, nil)
	if err != nil {
		return nil, &FieldError{Source: source, Err: fmt.Errorf("%w: %w", ErrTokenURL, err)}
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, &FieldError{Source: source, Err: fmt.Errorf("%w: GET failed: %w", ErrTokenURL, err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxInputSize+1))
	if err != nil {
		return nil, &FieldError{Source: source, Err: fmt.Errorf("%w: reading the body: %w", ErrTokenURL, err)}
	}
	if resp.StatusCode/100 != 2 {
		snippet := strings.TrimSpace(string(data))
		if len(snippet) > 200 {
			snippet = snippet[:200] + "…"
		}
		return nil, &FieldError{Source: source, Err: fmt.Errorf("%w: answered %s: %s", ErrTokenURL, resp.Status, snippet)}
	}
	if len(data) > MaxInputSize {
		return nil, &FieldError{Source: source, Err: fmt.Errorf("%w: body larger than %d bytes", ErrTokenURL, MaxInputSize)}
	}
	return data, nil
}

// redactURL hides a password in userinfo and the values of query
// parameters (token URLs often carry an API key).
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			q.Set(k, "REDACTED")
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}
