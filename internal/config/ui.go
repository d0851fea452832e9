package config

import (
	"os"

	"github.com/authd-dev/authd/oauth"
)

// validateUI checks that --ui-dir names a readable directory (the server
// parses and renders its templates at start) and that every
// --scope-descriptions entry is scope=Description.
func validateUI(c *Config) error {
	if c.UIDir != "" {
		fi, err := os.Stat(c.UIDir)
		switch {
		case err != nil:
			return settingErr("ui-dir", "%v", err)
		case !fi.IsDir():
			return settingErr("ui-dir", "%s is not a directory", c.UIDir)
		}
	}
	if _, err := oauth.ParseScopeDescriptions(c.ScopeDescriptions); err != nil {
		return settingErr("scope-descriptions", "%v", err)
	}
	return nil
}
