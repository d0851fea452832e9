package config

import (
	"slices"
	"strings"
)

// StoreBackend is one --store choice as the configuration sees it: the
// settings only that backend reads (flags, AUTHD_* twins and YAML keys like
// every other setting) and the check of their values. A backend's entry —
// this, beside its constructor — lives in one file (internal/app/stores.go)
// and is registered with RegisterStore, so adding a backend touches that
// file only.
type StoreBackend struct {
	// Name is the --store value.
	Name string
	// Usage describes the backend in --store's help, e.g. "shared by many
	// replicas".
	Usage string
	// NewOptions returns a pointer to a new options value of the backend,
	// which its Settings fill. Nil when the backend has no settings.
	NewOptions func() any
	// Settings are the backend's own settings, shown after --data-dir.
	Settings []StoreSetting
	// Validate checks the options (and any other setting in c) when the
	// backend is the one selected; nil: nothing to check. Its errors name
	// the setting: make them with Invalid.
	Validate func(c *Config, opts any) error
}

// StoreSetting is one setting of a StoreBackend.
type StoreSetting struct {
	Name, Default, Usage string
	// Field returns a pointer to the field of opts (the value NewOptions
	// returned) that the setting fills: *string, *bool, *int,
	// *time.Duration or *[]string (comma-separated or repeated).
	Field func(opts any) any
}

// storeBackends are the registered backends, in registration order.
var storeBackends []StoreBackend

// RegisterStore adds a backend. It is meant for package initialisation and
// panics on a name or setting that is already taken (a programming error).
func RegisterStore(b StoreBackend) {
	taken := map[string]bool{}
	for _, s := range allSettings() {
		taken[s.name] = true
	}
	for _, o := range storeBackends {
		if o.Name == b.Name {
			panic("config: store " + b.Name + " registered twice")
		}
	}
	for _, s := range b.Settings {
		if taken[s.Name] || s.Field == nil || b.NewOptions == nil {
			panic("config: store " + b.Name + ": setting " + s.Name + " is taken or has no field")
		}
	}
	storeBackends = append(storeBackends, b)
}

// StoreNames returns the registered backends' names, in registration order.
func StoreNames() []string {
	out := make([]string, len(storeBackends))
	for i, b := range storeBackends {
		out[i] = b.Name
	}
	return out
}

// Invalid is the error a StoreBackend's Validate returns about one of its
// settings: one line naming the setting, wrapping ErrInvalid.
func Invalid(setting, format string, args ...any) error {
	return settingErr(setting, format, args...)
}

// StoreOptions returns the options of the selected backend (--store), as
// its settings filled them; nil for a backend without settings.
func (c Config) StoreOptions() any { return c.Stores[c.Store] }

// options returns backend b's options in c, making them on first use.
func (c *Config) options(b StoreBackend) any {
	if c.Stores == nil {
		c.Stores = map[string]any{}
	}
	o, ok := c.Stores[b.Name]
	if !ok {
		o = b.NewOptions()
		c.Stores[b.Name] = o
	}
	return o
}

// allSettings is the settings table with every backend's settings after
// data-dir, and --store's help naming the registered backends.
func allSettings() []setting {
	out := make([]setting, 0, len(settings)+8)
	for _, s := range settings {
		if s.name == "store" {
			var names []string
			for _, b := range storeBackends {
				names = append(names, b.Name+" ("+b.Usage+")")
			}
			s.usage = "storage backend: " + strings.Join(names, ", ")
		}
		out = append(out, s)
		if s.name != "data-dir" {
			continue
		}
		for _, b := range storeBackends {
			for _, st := range b.Settings {
				out = append(out, setting{name: st.Name, def: st.Default, usage: st.Usage,
					field: func(c *Config) any { return st.Field(c.options(b)) }})
			}
		}
	}
	return out
}

// validateStore checks --store and hands the selected backend its options.
func validateStore(c *Config) error {
	if len(storeBackends) == 0 { // a program that loads settings without internal/app
		return settingErr("store", "no storage backend is registered (internal/app registers them)")
	}
	i := slices.IndexFunc(storeBackends, func(b StoreBackend) bool { return b.Name == c.Store })
	if i < 0 {
		return settingErr("store", "unknown store %q (one of %s)", c.Store, strings.Join(StoreNames(), ", "))
	}
	if b := storeBackends[i]; b.Validate != nil {
		if err := b.Validate(c, c.StoreOptions()); err != nil {
			return err
		}
	}
	if c.Dev && c.DataDir == "" {
		return settingErr("data-dir", "is required with --dev (it keeps the dev secrets)")
	}
	return nil
}
