package iceconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Parse parses a JSON ICE server input in any of the supported forms:
//
//   - {"iceServers":[RTCIceServer...]} (an RTCConfiguration);
//   - [RTCIceServer...] (a bare array);
//   - {"ice_servers":[{"url"|"urls", "username", "credential"}...], "ttl"}
//     (a provider token response; ttl may be a string);
//   - {"username","password","ttl","uris":[...]} (a TURN REST API
//     response);
//   - a single RTCIceServer object {"urls", "username", "credential"};
//   - {"v":{"iceServers":...}} (a response wrapped in "v").
//
// When a body has both "ice_servers" and the REST fields (natkit's signal
// server sends both), "ice_servers" is used. source names the input in
// errors. Parse does not check for missing TURN credentials: Load does,
// after --user/--credential or --secret are applied.
func Parse(data []byte, source string) (Servers, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, fieldErr(source, "", "", "%w: the input is empty", ErrJSON)
	}
	var root any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&root); err != nil {
		if data[0] == '{' || data[0] == '[' {
			return nil, &FieldError{Source: source, Err: fmt.Errorf("%w: %s", ErrJSON, jsonErrText(data, err))}
		}
		// Text around JSON, e.g. the whole output of `natkit relay`
		// pasted: use the JSON block, or say that it is what is needed.
		block, ok := jsonBlock(data)
		if !ok {
			return nil, fieldErr(source, "", "", "%w: the input is not JSON (it starts with %q); give the JSON block alone: an RTCConfiguration {\"iceServers\": [...]}, an array of RTCIceServer, or a token response", ErrJSON, firstLine(data))
		}
		data, root = block, nil
		dec = json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&root); err != nil {
			return nil, &FieldError{Source: source, Err: fmt.Errorf("%w: %s", ErrJSON, jsonErrText(data, err))}
		}
	}
	if dec.More() {
		return nil, fieldErr(source, "", "", "%w: unexpected data after the first json value", ErrJSON)
	}
	p := parser{source: source}
	servers, err := p.root(root, "")
	if err != nil {
		return nil, err
	}
	if len(servers) == 0 {
		return nil, &FieldError{Source: source, Err: ErrNoServers}
	}
	return servers, nil
}

// jsonBlock finds a JSON object or array that starts a line inside text,
// such as the iceServers block in the whole output of `natkit relay`
// (banner lines, the JSON, a "try:" line), and returns it without the text
// around it.
func jsonBlock(text []byte) ([]byte, bool) {
	for off := 0; off < len(text); {
		next := len(text)
		if i := bytes.IndexByte(text[off:], '\n'); i >= 0 {
			next = off + i + 1
		}
		if t := bytes.TrimLeft(text[off:next], " \t\r"); len(t) > 0 && (t[0] == '{' || t[0] == '[') {
			dec := json.NewDecoder(bytes.NewReader(text[off:]))
			var v any
			if dec.Decode(&v) == nil {
				return bytes.TrimSpace(text[off : off+int(dec.InputOffset())]), true
			}
		}
		off = next
	}
	return nil, false
}

func firstLine(data []byte) string {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	if len(line) > 40 {
		return string(line[:40]) + "…"
	}
	return string(line)
}

func jsonErrText(data []byte, err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := 1, 1
		for _, b := range data[:min(int(se.Offset), len(data))] {
			if b == '\n' {
				line++
				col = 1
			} else {
				col++
			}
		}
		return fmt.Sprintf("line %d column %d: %v", line, col, se)
	}
	return err.Error()
}

type parser struct{ source string }

func join(path, field string) string {
	if path == "" {
		return field
	}
	if strings.HasPrefix(field, "[") {
		return path + field
	}
	return path + "." + field
}

func (p *parser) errf(field string, format string, args ...any) error {
	return &FieldError{Source: p.source, Field: field, Err: fmt.Errorf(format, args...)}
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func (p *parser) root(v any, path string) (Servers, error) {
	switch t := v.(type) {
	case []any:
		return p.list(t, path, 0)
	case map[string]any:
		if is, ok := t["iceServers"]; ok {
			return p.serverList(is, join(path, "iceServers"), 0)
		}
		if is, ok := t["ice_servers"]; ok {
			ttl, err := p.ttl(t, path)
			if err != nil {
				return nil, err
			}
			return p.serverList(is, join(path, "ice_servers"), ttl)
		}
		if _, ok := t["uris"]; ok {
			return p.rest(t, path)
		}
		_, hasURLs := t["urls"]
		_, hasURL := t["url"]
		if hasURLs || hasURL {
			return p.entry(t, path, 0)
		}
		if inner, ok := t["v"]; ok {
			return p.root(inner, join(path, "v"))
		}
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, strconv.Quote(k))
		}
		sort.Strings(keys)
		field := path
		return nil, &FieldError{Source: p.source, Field: field, Err: fmt.Errorf("%w: want \"iceServers\", \"ice_servers\", \"uris\" (turn rest api) or \"urls\"; found keys %s", ErrShape, orNone(keys))}
	}
	return nil, p.errf(path, "%w: want an object or an array, got %s", ErrShape, jsonType(v))
}

func orNone(keys []string) string {
	if len(keys) == 0 {
		return "none"
	}
	return strings.Join(keys, ", ")
}

// serverList accepts an array of RTCIceServer, or one RTCIceServer object
// (as some providers send).
func (p *parser) serverList(v any, path string, ttl time.Duration) (Servers, error) {
	switch t := v.(type) {
	case []any:
		return p.list(t, path, ttl)
	case map[string]any:
		return p.entry(t, path, ttl)
	}
	return nil, p.errf(path, "%w: want an array of ice servers, got %s", ErrJSON, jsonType(v))
}

func (p *parser) list(items []any, path string, ttl time.Duration) (Servers, error) {
	if len(items) == 0 {
		return nil, p.errf(path, "%w: the list is empty", ErrNoServers)
	}
	var out Servers
	for i, it := range items {
		ip := fmt.Sprintf("%s[%d]", path, i)
		m, ok := it.(map[string]any)
		if !ok {
			return nil, p.errf(ip, "%w: want an ice server object, got %s", ErrJSON, jsonType(it))
		}
		ss, err := p.entry(m, ip, ttl)
		if err != nil {
			return nil, err
		}
		out = append(out, ss...)
	}
	return out, nil
}

func (p *parser) str(m map[string]any, path, key string) (string, bool, error) {
	v, ok := m[key]
	if !ok || v == nil {
		return "", false, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", true, p.errf(join(path, key), "%w: want a string, got %s", ErrJSON, jsonType(v))
	}
	return s, true, nil
}

// urls reads a string or an array of strings.
func (p *parser) urls(v any, path string) ([]string, error) {
	switch t := v.(type) {
	case string:
		return []string{t}, nil
	case []any:
		if len(t) == 0 {
			return nil, p.errf(path, "%w: the url list is empty", ErrNoServers)
		}
		out := make([]string, 0, len(t))
		for i, u := range t {
			s, ok := u.(string)
			if !ok {
				return nil, p.errf(fmt.Sprintf("%s[%d]", path, i), "%w: want a url string, got %s", ErrJSON, jsonType(u))
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, p.errf(path, "%w: want a string or an array of strings, got %s", ErrJSON, jsonType(v))
}

func (p *parser) entry(m map[string]any, path string, ttl time.Duration) (Servers, error) {
	// Twilio-style entries carry both "url" and "urls" with the same
	// value; "urls" (the W3C name) wins.
	key := "urls"
	raw, ok := m["urls"]
	if !ok || raw == nil {
		key = "url"
		raw, ok = m["url"]
	}
	if !ok || raw == nil {
		return nil, p.errf(path, "%w: the ice server has no \"urls\" (or \"url\")", ErrShape)
	}
	list, err := p.urls(raw, join(path, key))
	if err != nil {
		return nil, err
	}
	user, _, err := p.str(m, path, "username")
	if err != nil {
		return nil, err
	}
	if ct, ok, err := p.str(m, path, "credentialType"); err != nil {
		return nil, err
	} else if ok && ct != "password" {
		return nil, &FieldError{Source: p.source, Field: join(path, "credentialType"), Value: ct, Err: fmt.Errorf("%w: only \"password\" is supported", ErrCredentialType)}
	}
	var cred string
	if c, ok := m["credential"]; ok && c != nil {
		s, isStr := c.(string)
		if !isStr {
			return nil, p.errf(join(path, "credential"), "%w: want a string (password credentials only), got %s", ErrJSON, jsonType(c))
		}
		cred = s
	}
	if ttl == 0 {
		if ttl, err = p.ttl(m, path); err != nil {
			return nil, err
		}
	}
	return p.build(list, path, key, user, cred, ttl, isString(raw))
}

func isString(v any) bool { _, ok := v.(string); return ok }

func (p *parser) build(list []string, path, key, user, cred string, ttl time.Duration, single bool) (Servers, error) {
	out := make(Servers, 0, len(list))
	for i, u := range list {
		field := join(path, key)
		if !single {
			field = fmt.Sprintf("%s[%d]", field, i)
		}
		s, err := ParseURL(u, p.source)
		if err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				fe.Field = field
			}
			return nil, err
		}
		s.Source = p.source + ": " + field
		s.TTL = ttl
		if s.IsTURN() {
			s.Username, s.Credential = user, cred
			if exp, ok := RESTExpiry(user); ok {
				s.Expires = exp
			}
		}
		out = append(out, s)
	}
	return out, nil
}

func (p *parser) rest(m map[string]any, path string) (Servers, error) {
	list, err := p.urls(m["uris"], join(path, "uris"))
	if err != nil {
		return nil, err
	}
	user, _, err := p.str(m, path, "username")
	if err != nil {
		return nil, err
	}
	pass, _, err := p.str(m, path, "password")
	if err != nil {
		return nil, err
	}
	ttl, err := p.ttl(m, path)
	if err != nil {
		return nil, err
	}
	return p.build(list, path, "uris", user, pass, ttl, isString(m["uris"]))
}

// ttl reads a "ttl" in seconds given as a number or a string.
func (p *parser) ttl(m map[string]any, path string) (time.Duration, error) {
	v, ok := m["ttl"]
	if !ok || v == nil {
		return 0, nil
	}
	field := join(path, "ttl")
	var text string
	switch t := v.(type) {
	case json.Number:
		text = t.String()
	case string:
		text = strings.TrimSpace(t)
	default:
		return 0, p.errf(field, "%w: want a number of seconds or a string holding one, got %s", ErrTTL, jsonType(v))
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) || f > float64(math.MaxInt64/int64(time.Second)) {
		return 0, &FieldError{Source: p.source, Field: field, Value: text, Err: fmt.Errorf("%w: want a non-negative number of seconds", ErrTTL)}
	}
	return time.Duration(f * float64(time.Second)), nil
}
