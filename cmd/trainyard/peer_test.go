package main

import (
	"net"
	"strings"
	"testing"
)

func TestPeerURL(t *testing.T) {
	for _, c := range []struct {
		flag, addr, want, err string
	}{
		{"", "127.0.0.1:8080", "http://127.0.0.1:8080", ""},
		{"", "0.0.0.0:8081", "http://127.0.0.1:8081", ""},
		{"", "[::]:8082", "http://127.0.0.1:8082", ""},
		{"", "[::1]:8083", "http://[::1]:8083", ""},
		{"", "10.0.0.5:8084", "http://10.0.0.5:8084", ""},
		{"https://gpu-1.lan:8443/", "0.0.0.0:8080", "https://gpu-1.lan:8443", ""},
		{"gpu-1.lan:8080", "0.0.0.0:8080", "", `peer-url: "gpu-1.lan:8080" is not an http(s) URL`},
	} {
		addr, err := net.ResolveTCPAddr("tcp", c.addr)
		if err != nil {
			t.Fatal(err)
		}
		got, err := peerURL(c.flag, addr)
		if got != c.want || (err == nil) != (c.err == "") || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("peerURL(%q, %s) = %q, %v; want %q, %q", c.flag, c.addr, got, err, c.want, c.err)
		}
	}
}
