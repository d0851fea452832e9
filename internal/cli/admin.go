package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// Environment twins of the admin client's flags.
const (
	EnvAdminURL   = "AUTHD_ADMIN_URL"
	EnvAdminToken = "AUTHD_ADMIN_TOKEN"
)

// maxResponse bounds what the CLI reads from the admin API.
const maxResponse = 16 << 20

// APIError is an error answer of the admin API:
// {"error": "...", "error_description": "..."}.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Code is the "error" member (e.g. "invalid_request").
	Code string
	// Description is the "error_description" member.
	Description string
}

// Error is "<error>: <error_description>" (Execute prefixes "error: ").
func (e *APIError) Error() string {
	if e.Description == "" {
		return e.Code
	}
	return e.Code + ": " + e.Description
}

// adminFlags are the persistent flags of the client, user and keys
// commands; one set per command tree, no globals.
type adminFlags struct {
	url, token, output string
}

func (f *adminFlags) register(cmd *cobra.Command) {
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.url, "admin-url", DefaultAdminURL, "base URL of the admin API (env "+EnvAdminURL+")")
	pf.StringVar(&f.token, "admin-token", "", "bearer token of the admin API (env "+EnvAdminToken+"); if neither is set, "+
		"./"+DefaultDevTokenFile+" (written by authd serve --dev in this directory) is used when it exists")
	// No backquotes in these usage strings: pflag takes a backquoted word as
	// the flag's value name, and --help would print
	// "--admin-token authd serve --dev" instead of "--admin-token string".
	pf.StringVarP(&f.output, "output", "o", "json", "output format: json (pretty), or table for list commands")
}

// adminClient calls the admin API with the bearer token.
type adminClient struct {
	base  string // without trailing slash
	token string
	http  *http.Client
	agent string
}

// client resolves --admin-url and --admin-token (flag > env > dev token
// file) for cmd.
func (f *adminFlags) client(cmd *cobra.Command, opts Options) (*adminClient, error) {
	if f.output != "json" && f.output != "table" {
		return nil, fmt.Errorf("--output: unknown format %q (json or table)", f.output)
	}
	base := f.url
	if fl := cmd.Flag("admin-url"); (fl == nil || !fl.Changed) && opts.Getenv(EnvAdminURL) != "" {
		base = opts.Getenv(EnvAdminURL)
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--admin-url: must be an http(s) URL such as %s", DefaultAdminURL)
	}
	token := f.token
	if fl := cmd.Flag("admin-token"); fl == nil || !fl.Changed {
		token = opts.Getenv(EnvAdminToken)
		if token == "" {
			b, err := os.ReadFile(opts.DevTokenFile)
			switch {
			case err == nil:
				token = strings.TrimSpace(string(b))
			case !errors.Is(err, fs.ErrNotExist):
				return nil, fmt.Errorf("--admin-token: reading %s: %w", opts.DevTokenFile, err)
			}
		}
	}
	if token == "" {
		return nil, fmt.Errorf("--admin-token is required (or %s; in dev mode ./%s is read if it exists)", EnvAdminToken, DefaultDevTokenFile)
	}
	return &adminClient{
		base:  strings.TrimRight(base, "/"),
		token: token,
		http:  opts.HTTPClient,
		agent: "authd-cli/" + opts.Version,
	}, nil
}

// do sends method path with body (JSON, if not nil) and returns the
// response body of a 2xx answer; any other answer becomes an *APIError.
func (c *adminClient) do(ctx context.Context, method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.agent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin API: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("admin API: reading the response: %w", err)
	}
	if resp.StatusCode/100 == 2 {
		return b, nil
	}
	apiErr := &APIError{Status: resp.StatusCode}
	if json.Unmarshal(b, apiErr.jsonTarget()) != nil || apiErr.Code == "" {
		apiErr.Code = fmt.Sprintf("HTTP %d", resp.StatusCode)
		apiErr.Description = http.StatusText(resp.StatusCode)
	}
	return nil, apiErr
}

// jsonTarget decodes the error body into e.
func (e *APIError) jsonTarget() any {
	return &struct {
		Code        *string `json:"error"`
		Description *string `json:"error_description"`
	}{&e.Code, &e.Description}
}

// call is one admin command: resolve the client, send, print the answer
// (pretty JSON, or a table for list commands when -o table). An empty
// answer (204) prints done to stderr instead.
func (f *adminFlags) call(cmd *cobra.Command, opts Options, method, path string, body any, table *tableSpec, done string) error {
	c, err := f.client(cmd, opts)
	if err != nil {
		return err
	}
	if f.output == "table" && table == nil {
		return errors.New("--output: table is only available for list commands")
	}
	out, err := c.do(cmd.Context(), method, path, body)
	if err != nil {
		return err
	}
	out = bytes.TrimSpace(out)
	if len(out) == 0 {
		if done != "" {
			fmt.Fprintln(cmd.ErrOrStderr(), done)
		}
		return nil
	}
	if f.output == "table" {
		return table.write(cmd.OutOrStdout(), out)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, out, "", "  "); err != nil {
		return fmt.Errorf("admin API: malformed JSON response: %w", err)
	}
	pretty.WriteByte('\n')
	_, err = cmd.OutOrStdout().Write(pretty.Bytes())
	return err
}

// tableSpec says how a list answer {"<key>": [...]} becomes a table.
type tableSpec struct {
	key     string
	columns []column
}

type column struct{ title, field string }

func (t *tableSpec) write(w io.Writer, body []byte) error {
	var doc map[string][]map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // ids and timestamps print as sent
	if err := dec.Decode(&doc); err != nil {
		return fmt.Errorf("admin API: unexpected list response: %w", err)
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	titles := make([]string, len(t.columns))
	for i, c := range t.columns {
		titles[i] = c.title
	}
	fmt.Fprintln(tw, strings.Join(titles, "\t"))
	for _, row := range doc[t.key] {
		cells := make([]string, len(t.columns))
		for i, c := range t.columns {
			cells[i] = cell(row[c.field])
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// cell renders one JSON value on one line; absent or empty is "-".
func cell(v any) string {
	var s string
	switch v := v.(type) {
	case nil:
	case string:
		s = v
	case []any:
		parts := make([]string, len(v))
		for i, p := range v {
			parts[i] = cell(p)
		}
		s = strings.Join(parts, ",")
	case json.Number:
		s = v.String()
	default:
		b, _ := json.Marshal(v)
		s = string(b)
	}
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "-"
	}
	return s
}

// pathID escapes one path segment (client ids may be caller-chosen).
func pathID(id string) string { return url.PathEscape(id) }
