package cli

import (
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

// registrationTokenCmd is "authd registration-token create|list|delete":
// initial access tokens for dynamic client registration (RFC 7591 §3)
// through /admin/registration-tokens.
func registrationTokenCmd(opts Options) *cobra.Command {
	f := &adminFlags{}
	cmd := adminGroup("registration-token", "Issue initial access tokens for dynamic client registration through the admin API", f)
	var expiresIn time.Duration
	var uses int
	create := &cobra.Command{
		Use:   "create",
		Short: "Issue an initial access token (shown once) for --dynamic-registration token",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body := map[string]int64{}
			if cmd.Flags().Changed("expires-in") {
				body["expires_in"] = int64(expiresIn / time.Second)
			}
			if cmd.Flags().Changed("uses") {
				body["uses"] = int64(uses)
			}
			return f.call(cmd, opts, http.MethodPost, "/admin/registration-tokens", body, nil, "")
		},
	}
	create.Flags().DurationVar(&expiresIn, "expires-in", 24*time.Hour, "lifetime of the token (whole seconds)")
	create.Flags().IntVar(&uses, "uses", 1, "how many registrations the token authorizes")
	list := &cobra.Command{
		Use:   "list",
		Short: "List the live initial access tokens (ids, uses left, expiry; never a token)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.call(cmd, opts, http.MethodGet, "/admin/registration-tokens", nil, registrationTokenTable, "")
		},
	}
	del := &cobra.Command{
		Use:   "delete ID",
		Short: "Revoke an initial access token at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.call(cmd, opts, http.MethodDelete, "/admin/registration-tokens/"+pathID(args[0]), nil, nil, "registration token "+args[0]+" deleted")
		},
	}
	cmd.AddCommand(create, list, del)
	return cmd
}

var registrationTokenTable = &tableSpec{key: "tokens", columns: []column{
	{"ID", "id"}, {"USES", "uses"}, {"CREATED_AT", "created_at"}, {"EXPIRES_AT", "expires_at"},
}}
