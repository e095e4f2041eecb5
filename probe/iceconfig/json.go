package iceconfig

import (
	"encoding/json"
)

// rtcIceServer is one RTCIceServer entry of an RTCConfiguration, the JSON
// form browsers take and Parse reads.
type rtcIceServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// MarshalJSON writes the servers as an array of RTCIceServer entries, the
// value of an RTCConfiguration's "iceServers": each run of servers with
// the same credentials shares one entry. Parse and UnmarshalJSON read it
// back. It carries the credentials: it is for handing servers to clients,
// never for logs or reports.
func (ss Servers) MarshalJSON() ([]byte, error) {
	if ss == nil {
		return []byte("null"), nil
	}
	entries := []rtcIceServer{}
	for _, s := range ss {
		n := len(entries)
		if n > 0 && entries[n-1].Username == s.Username && entries[n-1].Credential == s.Credential {
			entries[n-1].URLs = append(entries[n-1].URLs, s.written())
			continue
		}
		entries = append(entries, rtcIceServer{URLs: []string{s.written()}, Username: s.Username, Credential: s.Credential})
	}
	return json.Marshal(entries)
}

// UnmarshalJSON reads any form Parse accepts.
func (ss *Servers) UnmarshalJSON(data []byte) error {
	parsed, err := Parse(data, "json")
	if err != nil {
		return err
	}
	*ss = parsed
	return nil
}

// URLs returns each server's URL as an RTCIceServer entry carries it: the
// canonical URL, except that a turns: URL keeps an explicit
// ?transport=tcp.
func (ss Servers) URLs() []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		out = append(out, s.written())
	}
	return out
}

func (s Server) written() string {
	if s.Scheme == SchemeTURNS && s.ExplicitTransport && s.Transport == TransportTCP {
		return s.URL() + "?transport=" + string(s.Transport)
	}
	return s.URL()
}
