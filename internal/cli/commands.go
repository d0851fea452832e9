package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/authd-dev/authd/clients"
	"github.com/authd-dev/authd/keys"
	"github.com/authd-dev/authd/oauth"
)

// adminGroup is a parent command (client, user, keys) carrying the admin
// client's persistent flags.
func adminGroup(use, short string, f *adminFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long: short + `.

Talks to the admin API at --admin-url (env AUTHD_ADMIN_URL, default ` + DefaultAdminURL + `)
with the bearer token --admin-token (env AUTHD_ADMIN_TOKEN; in dev mode the
file ./` + DefaultDevTokenFile + ` written by "authd serve --dev" is used if it exists).
Answers print as pretty JSON; list commands also take -o table.
An admin API error prints "error: <error>: <error_description>" and exits 1.`,
		Args: cobra.NoArgs,
	}
	f.register(cmd)
	return cmd
}

// clientRequest is the body of POST /admin/clients: the admin API's own
// client metadata type (RFC 7591 §2 names plus authd's extensions). Unset
// fields are omitted so the server's defaults apply.
type clientRequest = clients.Metadata

var clientTable = &tableSpec{key: "clients", columns: []column{
	{"CLIENT_ID", "client_id"}, {"NAME", "client_name"}, {"GRANT_TYPES", "grant_types"},
	{"AUTH_METHOD", "token_endpoint_auth_method"}, {"SCOPE", "scope"}, {"AUDIENCE", "audience"},
}}

func clientCmd(opts Options) *cobra.Command {
	f := &adminFlags{}
	cmd := adminGroup("client", "Manage OAuth clients through the admin API", f)

	var req clientRequest
	var scopes []string
	var jwksFile string
	create := &cobra.Command{
		Use:   "create",
		Short: "Register a client; prints its metadata and client_secret (shown only once)",
		Example: `  authd client create --name backend --grant-type client_credentials --scope "api:read api:write" --audience https://api.example.com
  authd client create --name web --grant-type authorization_code --grant-type refresh_token \
    --redirect-uri https://app.example.com/callback --scope "openid profile" --skip-consent`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body := req
			body.Scope = strings.Join(strings.Fields(strings.Join(scopes, " ")), " ")
			if jwksFile != "" {
				b, err := os.ReadFile(jwksFile)
				if err != nil {
					return fmt.Errorf("--jwks: %w", err)
				}
				if !json.Valid(b) {
					return fmt.Errorf("--jwks: %s is not JSON", jwksFile)
				}
				body.JWKS = b
			}
			return f.call(cmd, opts, http.MethodPost, "/admin/clients", body, nil, "")
		},
	}
	fl := create.Flags()
	fl.SortFlags = false
	fl.StringVar(&req.ClientName, "name", "", "human-readable client_name")
	fl.StringVar(&req.ClientID, "client-id", "", "caller-chosen client_id (default: generated)")
	fl.StringSliceVar(&req.GrantTypes, "grant-type", nil, "grant type, repeatable: "+strings.Join(oauth.GrantTypes(), ", ")+" (default "+oauth.GrantClientCredentials+")")
	fl.StringArrayVar(&req.RedirectURIs, "redirect-uri", nil, "redirect URI, repeatable (authorization_code)")
	fl.StringArrayVar(&req.PostLogoutRedirectURIs, "post-logout-redirect-uri", nil, "post-logout redirect URI, repeatable")
	fl.StringArrayVar(&scopes, "scope", nil, `scopes the client may ask for, space-separated or repeated (e.g. "openid profile")`)
	fl.StringSliceVar(&req.Audience, "audience", nil, "allowed audience, repeatable")
	fl.StringVar(&req.TokenEndpointAuthMethod, "auth-method", "", "token_endpoint_auth_method: "+strings.Join(oauth.AuthMethods(), ", ")+" (default "+oauth.AuthClientSecretBasic+")")
	fl.StringVar(&req.AccessTokenSigningAlg, "signing-alg", "", "access_token_signing_alg: "+strings.Join(keys.Algorithms(), " or ")+" (default: the server's --signing-alg)")
	fl.StringVar(&req.IDTokenSignedAlg, "id-token-signing-alg", "", "id_token_signed_response_alg: "+strings.Join(keys.Algorithms(), " or "))
	fl.StringVar(&req.JWKSURI, "jwks-uri", "", "jwks_uri of the client's public keys (private_key_jwt)")
	fl.StringVar(&jwksFile, "jwks", "", "file with the client's JWK Set as JSON (private_key_jwt)")
	fl.BoolVar(&req.SkipConsent, "skip-consent", false, "first-party client: never show the consent page")
	fl.BoolVar(&req.RequirePushedAuthorizationRequests, "require-par", false, "require_pushed_authorization_requests: authorization requests only through the pushed authorization request endpoint (RFC 9126)")
	fl.BoolVar(&req.TokenExchangeImpersonation, "token-exchange-impersonation", false, "token exchange without an actor_token (impersonation, RFC 8693)")
	fl.BoolVar(&req.TokenExchangeRefresh, "token-exchange-refresh", false, "token exchange may issue refresh tokens (requested_token_type refresh_token)")
	fl.BoolVar(&req.DPoPBoundAccessTokens, "dpop-bound-access-tokens", false, "the client must send a DPoP proof with every token request (RFC 9449 §5.2)")

	cmd.AddCommand(create,
		&cobra.Command{
			Use:   "list",
			Short: "List clients (never their secrets)",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return f.call(cmd, opts, http.MethodGet, "/admin/clients", nil, clientTable, "")
			},
		},
		&cobra.Command{
			Use:   "get CLIENT_ID",
			Short: "Show one client's metadata (never its secret)",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return f.call(cmd, opts, http.MethodGet, "/admin/clients/"+pathID(args[0]), nil, nil, "")
			},
		},
		&cobra.Command{
			Use:   "delete CLIENT_ID",
			Short: "Delete a client and revoke its refresh tokens",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return f.call(cmd, opts, http.MethodDelete, "/admin/clients/"+pathID(args[0]), nil, nil, "client "+args[0]+" deleted")
			},
		},
		&cobra.Command{
			Use:   "rotate-secret CLIENT_ID",
			Short: "Issue a new client secret (printed once); the old one stops working",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return f.call(cmd, opts, http.MethodPost, "/admin/clients/"+pathID(args[0])+"/secret", nil, nil, "")
			},
		},
	)
	return cmd
}

// userRequest is the body of POST /admin/users.
type userRequest struct {
	Username string   `json:"username"`
	Password string   `json:"password"`
	Email    string   `json:"email,omitempty"`
	Roles    []string `json:"roles,omitempty"`
	// The common OIDC profile fields (the admin API validates them).
	Name          string `json:"name,omitempty"`
	GivenName     string `json:"given_name,omitempty"`
	FamilyName    string `json:"family_name,omitempty"`
	EmailVerified bool   `json:"email_verified,omitempty"`
	PhoneNumber   string `json:"phone_number,omitempty"`
	Locale        string `json:"locale,omitempty"`
}

var userTable = &tableSpec{key: "users", columns: []column{
	{"ID", "id"}, {"USERNAME", "username"}, {"EMAIL", "email"}, {"ROLES", "roles"}, {"CREATED_AT", "created_at"},
}}

// maxPassword bounds what --password-stdin reads.
const maxPassword = 4096

func userCmd(opts Options) *cobra.Command {
	f := &adminFlags{}
	cmd := adminGroup("user", "Manage users through the admin API", f)

	var req userRequest
	var passwordStdin bool
	create := &cobra.Command{
		Use:     "create",
		Short:   "Create a user; prints it (never the password)",
		Example: `  authd user create --username alice --email alice@example.com --role admin --password-stdin <<<"$PASSWORD"`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body := req
			if body.Username == "" {
				return errors.New("--username is required")
			}
			switch {
			case passwordStdin && cmd.Flag("password").Changed:
				return errors.New("--password and --password-stdin are exclusive")
			case passwordStdin:
				b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), maxPassword+1))
				if err != nil {
					return fmt.Errorf("--password-stdin: %w", err)
				}
				if len(b) > maxPassword {
					return fmt.Errorf("--password-stdin: longer than %d bytes", maxPassword)
				}
				body.Password = strings.TrimRight(string(b), "\r\n")
			}
			if body.Password == "" {
				return errors.New("--password or --password-stdin is required")
			}
			return f.call(cmd, opts, http.MethodPost, "/admin/users", body, nil, "")
		},
	}
	fl := create.Flags()
	fl.SortFlags = false
	fl.StringVar(&req.Username, "username", "", "login name (required, unique)")
	fl.StringVar(&req.Password, "password", "", "password (visible to other local users in the process list: prefer --password-stdin)")
	fl.BoolVar(&passwordStdin, "password-stdin", false, "read the password from stdin (one line)")
	fl.StringVar(&req.Email, "email", "", "e-mail address")
	fl.StringArrayVar(&req.Roles, "role", nil, "role, repeatable (carried in the roles claim)")
	fl.StringVar(&req.Name, "name", "", "full name (OIDC name claim)")
	fl.StringVar(&req.GivenName, "given-name", "", "given name")
	fl.StringVar(&req.FamilyName, "family-name", "", "family name")
	fl.BoolVar(&req.EmailVerified, "email-verified", false, "the e-mail address is verified")
	fl.StringVar(&req.PhoneNumber, "phone-number", "", "phone number, E.164 (+1 425 555 1212)")
	fl.StringVar(&req.Locale, "locale", "", "BCP 47 language tag (en-US)")

	cmd.AddCommand(create,
		&cobra.Command{
			Use:   "list",
			Short: "List users",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return f.call(cmd, opts, http.MethodGet, "/admin/users", nil, userTable, "")
			},
		},
		&cobra.Command{
			Use:   "get ID",
			Short: "Show one user",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return f.call(cmd, opts, http.MethodGet, "/admin/users/"+pathID(args[0]), nil, nil, "")
			},
		},
		&cobra.Command{
			Use:   "delete ID",
			Short: "Delete a user",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return f.call(cmd, opts, http.MethodDelete, "/admin/users/"+pathID(args[0]), nil, nil, "user "+args[0]+" deleted")
			},
		},
		&cobra.Command{
			Use:   "revoke ID",
			Short: "End every refresh token of the user and every access token issued to the user until now",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return f.call(cmd, opts, http.MethodPost, "/admin/users/"+pathID(args[0])+"/revoke", nil, nil, "tokens of user "+args[0]+" revoked")
			},
		},
	)
	return cmd
}

var keyTable = &tableSpec{key: "keys", columns: []column{
	{"KID", "kid"}, {"ALG", "alg"}, {"STATE", "state"}, {"CREATED_AT", "created_at"},
	{"ACTIVATED_AT", "activated_at"}, {"RETIRED_AT", "retired_at"}, {"EXPIRES_AT", "expires_at"},
}}

func keysCmd(opts Options) *cobra.Command {
	f := &adminFlags{}
	cmd := adminGroup("keys", "Manage signing keys through the admin API", f)

	var alg string
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Make the next key of --alg sign now; the old active key is retired but stays published until its tokens expire",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.call(cmd, opts, http.MethodPost, "/admin/keys/rotate", map[string]string{"alg": alg}, nil, "")
		},
	}
	rotate.Flags().StringVar(&alg, "alg", keys.RS256, "algorithm of the key to rotate: "+strings.Join(keys.Algorithms(), " or "))

	cmd.AddCommand(
		&cobra.Command{
			Use:   "list",
			Short: "List signing keys (public data only)",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				return f.call(cmd, opts, http.MethodGet, "/admin/keys", nil, keyTable, "")
			},
		},
		rotate,
		&cobra.Command{
			Use:   "delete KID",
			Short: "Remove a (compromised) key from the JWKS at once; another key of its alg takes over",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return f.call(cmd, opts, http.MethodDelete, "/admin/keys/"+pathID(args[0]), nil, nil, "key "+args[0]+" deleted")
			},
		},
	)
	return cmd
}
