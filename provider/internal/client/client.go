// Package client talks to the Lean Cloud controller's HTTP API: app documents
// written and deleted with check-and-set (If-Match: <specIndex>), app and VM
// views with their status, components and VM images uploaded by digest. Every
// call carries the operator's Consul token: the controller reads and writes
// Consul KV with the caller's token, never its own.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config says where the controller is and how to reach it.
type Config struct {
	// Address is the controller's HTTP API, e.g. http://127.0.0.1:4680; a bare
	// host:port gets http://.
	Address string
	// Token is the operator's Consul token (sent as X-Consul-Token).
	Token string
	// CAFile is a PEM file of the CA an https controller's certificate must
	// chain to; empty: the system's roots.
	CAFile string
}

// Client is one configured connection to the controller.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// APIError is the controller's refusal: its HTTP status and its
// `{ code, message, field, reason }` body.
type APIError struct {
	Status  int
	Method  string
	Path    string
	Code    string `json:"code"`
	Message string `json:"message"`
	// Field is the JSON path of the document field a LEAN_ERR_SPEC_INVALID names.
	Field string `json:"field"`
	// Reason is why that field is refused, without the field's name.
	Reason string `json:"reason"`
}

func (e *APIError) Error() string {
	code := e.Code
	if code == "" {
		code = strconv.Itoa(e.Status)
	}
	msg := fmt.Sprintf("the controller refused %s %s: %s %s", e.Method, e.Path, code, e.Message)
	switch e.Code {
	case "LEAN_ERR_TOKEN_REQUIRED":
		msg += "\nSet the provider's token, or CONSUL_HTTP_TOKEN (cloud.env holds the operator's)."
	case "LEAN_ERR_TOKEN_REFUSED":
		msg += "\nThe token (the provider's, or CONSUL_HTTP_TOKEN) may not do this: use the operator's."
	}
	return msg
}

// IsStatus reports whether err is the controller answering with status.
func IsStatus(err error, status int) bool {
	var api *APIError
	return errors.As(err, &api) && api.Status == status
}

// New checks the configuration and builds a client.
func New(cfg Config) (*Client, error) {
	raw := strings.TrimSpace(cfg.Address)
	if raw == "" {
		return nil, errors.New("address: the controller's address is empty")
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	base, err := url.Parse(raw)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("address: expected http(s)://host:port, got %q", cfg.Address)
	}
	base.Path = strings.TrimSuffix(base.Path, "/")
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file: %s holds no PEM certificate", cfg.CAFile)
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &Client{base: base, token: cfg.Token, http: &http.Client{Transport: transport, Timeout: 10 * time.Minute}}, nil
}

// Address is the controller's base URL, for messages.
func (c *Client) Address() string { return c.base.String() }

type request struct {
	method  string
	path    string
	json    any
	raw     io.Reader
	size    int64
	ifMatch *int64
	// accept lists statuses that are answers, not errors (HEAD's 404).
	accept []int
}

// do sends one request and decodes a JSON answer into out (when not nil).
func (c *Client) do(ctx context.Context, r request, out any) (int, error) {
	var body io.Reader
	contentType := ""
	if r.json != nil {
		b, err := json.Marshal(r.json)
		if err != nil {
			return 0, err
		}
		body, contentType = bytes.NewReader(b), "application/json"
	} else if r.raw != nil {
		body, contentType = r.raw, "application/octet-stream"
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.base.String()+r.path, body)
	if err != nil {
		return 0, err
	}
	if r.raw != nil && r.size >= 0 {
		req.ContentLength = r.size
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("X-Consul-Token", c.token)
	}
	if r.ifMatch != nil {
		req.Header.Set("If-Match", strconv.FormatInt(*r.ifMatch, 10))
	}
	res, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("cannot reach the controller at %s: %w", c.base, err)
	}
	defer res.Body.Close()
	text, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return res.StatusCode, fmt.Errorf("%s %s: reading the answer: %w", r.method, r.path, err)
	}
	ok := res.StatusCode >= 200 && res.StatusCode < 300
	for _, s := range r.accept {
		ok = ok || res.StatusCode == s
	}
	if !ok {
		refusal := &APIError{Status: res.StatusCode, Method: r.method, Path: r.path}
		if json.Unmarshal(text, refusal) != nil || refusal.Message == "" {
			refusal.Message = strings.TrimSpace(string(text))
		}
		return res.StatusCode, refusal
	}
	if out != nil && len(text) > 0 && res.StatusCode >= 200 && res.StatusCode < 300 {
		if err := json.Unmarshal(text, out); err != nil {
			return res.StatusCode, fmt.Errorf("%s %s: the answer is not the JSON expected: %w", r.method, r.path, err)
		}
	}
	return res.StatusCode, nil
}

// Status is the controller's status document of an app.
type Status struct {
	ObservedIndex      int64   `json:"observedIndex"`
	Phase              string  `json:"phase"`
	Healthy            int64   `json:"healthy"`
	Desired            int64   `json:"desired"`
	JobVersion         *int64  `json:"jobVersion"`
	LastError          *string `json:"lastError"`
	LastTransitionTime string  `json:"lastTransitionTime"`
}

// App is one app as GET /v1/apps/:name shows it.
type App struct {
	Name string `json:"name"`
	// Spec is the stored document, as raw JSON (a string when it is not JSON).
	Spec         json.RawMessage `json:"spec"`
	SpecIndex    int64           `json:"specIndex"`
	Status       *Status         `json:"status"`
	Addresses    []string        `json:"addresses"`
	RuntimeError string          `json:"runtimeError"`
}

// Written is the answer to a document write.
type Written struct {
	Name      string `json:"name"`
	SpecIndex int64  `json:"specIndex"`
	Created   bool   `json:"created"`
	Changed   bool   `json:"changed"`
}

func appPath(name string) string { return "/v1/apps/" + url.PathEscape(name) }

// GetApp reads app name's document, index and status; nil, nil when there is none.
func (c *Client) GetApp(ctx context.Context, name string) (*App, error) {
	var app App
	status, err := c.do(ctx, request{method: http.MethodGet, path: appPath(name), accept: []int{404}}, &app)
	if err != nil || status == 404 {
		return nil, err
	}
	return &app, nil
}

// PutApp writes app name's document if its key is still at ifMatch (0: absent).
func (c *Client) PutApp(ctx context.Context, name string, doc any, ifMatch int64) (*Written, error) {
	var w Written
	_, err := c.do(ctx, request{method: http.MethodPut, path: appPath(name), json: doc, ifMatch: &ifMatch}, &w)
	if err != nil {
		return nil, err
	}
	return &w, nil
}

// ValidateApp runs the controller's validator on doc as app name's, writing nothing.
func (c *Client) ValidateApp(ctx context.Context, name string, doc any) error {
	_, err := c.do(ctx, request{method: http.MethodPost, path: appPath(name) + "/validate", json: doc}, nil)
	return err
}

// DeleteApp deletes app name's document if its key is still at ifMatch.
func (c *Client) DeleteApp(ctx context.Context, name string, ifMatch int64) error {
	_, err := c.do(ctx, request{method: http.MethodDelete, path: appPath(name), ifMatch: &ifMatch}, nil)
	return err
}

// VMAllocation is one VM as GET /v1/vms/:name shows it.
type VMAllocation struct {
	ID           string            `json:"id"`
	ClientStatus string            `json:"clientStatus"`
	TaskState    *string           `json:"taskState"`
	Node         *string           `json:"node"`
	Accelerator  *string           `json:"accelerator"`
	Address      *string           `json:"address"`
	Ports        map[string]string `json:"ports"`
}

// VM is one vm app as GET /v1/vms/:name shows it.
type VM struct {
	Name         string          `json:"name"`
	Spec         json.RawMessage `json:"spec"`
	SpecIndex    int64           `json:"specIndex"`
	Status       *Status         `json:"status"`
	Allocations  []VMAllocation  `json:"allocations"`
	RuntimeError string          `json:"runtimeError"`
}

// GetVM reads vm name with its allocations; nil, nil when there is none.
func (c *Client) GetVM(ctx context.Context, name string) (*VM, error) {
	var vm VM
	status, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/vms/" + url.PathEscape(name), accept: []int{404}}, &vm)
	if err != nil || status == 404 {
		return nil, err
	}
	return &vm, nil
}

// HasComponent says whether components/<sha256>.wasm is stored.
func (c *Client) HasComponent(ctx context.Context, sha256 string) (bool, error) {
	status, err := c.do(ctx, request{method: http.MethodHead, path: "/v1/components/" + sha256, accept: []int{404}}, nil)
	return status == 200, err
}

// PutComponent uploads a component's bytes; the controller checks the digest and inspects it.
func (c *Client) PutComponent(ctx context.Context, sha256 string, body io.Reader, size int64) error {
	_, err := c.do(ctx, request{method: http.MethodPut, path: "/v1/components/" + sha256, raw: body, size: size}, nil)
	return err
}

// HasImageFile says whether images/<name> (<sha256>.<ext>) is stored.
func (c *Client) HasImageFile(ctx context.Context, name string) (bool, error) {
	status, err := c.do(ctx, request{method: http.MethodHead, path: "/v1/images/files/" + url.PathEscape(name), accept: []int{404}}, nil)
	return status == 200, err
}

// PutImageFile uploads one file an image manifest names.
func (c *Client) PutImageFile(ctx context.Context, name string, body io.Reader, size int64) error {
	_, err := c.do(ctx, request{method: http.MethodPut, path: "/v1/images/files/" + url.PathEscape(name), raw: body, size: size}, nil)
	return err
}

// PutImageManifest uploads a manifest's exact bytes, once every file it names is stored.
func (c *Client) PutImageManifest(ctx context.Context, sha256 string, manifest []byte) error {
	_, err := c.do(ctx, request{method: http.MethodPut, path: "/v1/images/" + sha256, raw: bytes.NewReader(manifest), size: int64(len(manifest))}, nil)
	return err
}

// Image is one manifest as GET /v1/images lists it.
type Image struct {
	SHA256 string `json:"sha256"`
	Name   string `json:"name"`
	Boot   string `json:"boot"`
	Size   int64  `json:"size"`
	Error  string `json:"error"`
}

// Images lists the stored image manifests.
func (c *Client) Images(ctx context.Context) ([]Image, error) {
	var out struct {
		Images []Image `json:"images"`
	}
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/images"}, &out)
	return out.Images, err
}
