package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestPutAppSendsTheTokenTheIndexAndTheDocument(t *testing.T) {
	var got struct {
		method, path, token, ifMatch, contentType string
		body                                      map[string]any
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.method, got.path = r.Method, r.URL.Path
		got.token, got.ifMatch, got.contentType = r.Header.Get("X-Consul-Token"), r.Header.Get("If-Match"), r.Header.Get("Content-Type")
		_ = json.NewDecoder(r.Body).Decode(&got.body)
		w.WriteHeader(201)
		_, _ = io.WriteString(w, `{"name":"pdf","specIndex":42,"created":true,"changed":true}`)
	}))
	defer srv.Close()
	c, err := New(Config{Address: strings.TrimPrefix(srv.URL, "http://"), Token: "operator"})
	if err != nil {
		t.Fatal(err)
	}
	w, err := c.PutApp(context.Background(), "pdf", map[string]any{"kind": "wasm-service"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if w.SpecIndex != 42 || !w.Created {
		t.Errorf("written = %+v", w)
	}
	if got.method != "PUT" || got.path != "/v1/apps/pdf" || got.token != "operator" || got.ifMatch != "0" || got.contentType != "application/json" || got.body["kind"] != "wasm-service" {
		t.Errorf("request = %+v", got)
	}
}

func TestARefusalKeepsTheControllersCodeFieldAndReason(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		_, _ = io.WriteString(w, `{"code":"LEAN_ERR_SPEC_INVALID","message":"count: expected a whole number from 0 to 1000","field":"count","reason":"expected a whole number from 0 to 1000"}`)
	}))
	defer srv.Close()
	c, _ := New(Config{Address: srv.URL})
	err := c.ValidateApp(context.Background(), "pdf", map[string]any{})
	api, ok := err.(*APIError)
	if !ok {
		t.Fatalf("err = %T %v", err, err)
	}
	if api.Status != 400 || api.Code != "LEAN_ERR_SPEC_INVALID" || api.Field != "count" || api.Reason != "expected a whole number from 0 to 1000" {
		t.Errorf("refusal = %+v", api)
	}
	if !strings.Contains(api.Error(), "POST /v1/apps/pdf/validate: LEAN_ERR_SPEC_INVALID count: expected") {
		t.Errorf("message = %s", api.Error())
	}
}

func TestAMissingAppOrComponentIsAnAnswerNotAnError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(404)
		_, _ = io.WriteString(w, `{"code":"LEAN_ERR_APP_NOT_FOUND","message":"no app"}`)
	}))
	defer srv.Close()
	c, _ := New(Config{Address: srv.URL})
	app, err := c.GetApp(context.Background(), "gone")
	if app != nil || err != nil {
		t.Errorf("GetApp = %v, %v", app, err)
	}
	stored, err := c.HasComponent(context.Background(), strings.Repeat("ab", 32))
	if stored || err != nil {
		t.Errorf("HasComponent = %v, %v", stored, err)
	}
	if err := c.DeleteApp(context.Background(), "gone", 7); !IsStatus(err, 404) {
		t.Errorf("DeleteApp = %v", err)
	}
}

func TestSettingsAreCheckedBeforeAnyCall(t *testing.T) {
	for _, cfg := range []Config{{Address: ""}, {Address: "ftp://x"}, {Address: "http://127.0.0.1:1", CAFile: "/nonexistent/ca.pem"}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

func TestATokenRefusalSaysWhereTheTokenComesFrom(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(401)
		_, _ = io.WriteString(w, `{"code":"LEAN_ERR_TOKEN_REQUIRED","message":"send your Consul token in X-Consul-Token"}`)
	}))
	defer srv.Close()
	c, _ := New(Config{Address: srv.URL})
	_, err := c.GetApp(context.Background(), "pdf")
	if err == nil || !strings.Contains(err.Error(), "Set the provider's token, or CONSUL_HTTP_TOKEN") {
		t.Fatalf("err = %v", err)
	}
}
