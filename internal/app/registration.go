package app

import (
	"log/slog"
	"time"

	"github.com/authd-dev/authd/clients"
	"github.com/authd-dev/authd/internal/config"
	"github.com/authd-dev/authd/server"
	"github.com/authd-dev/authd/store"
)

// newRegistrar builds dynamic client registration from the settings; nil
// when --dynamic-registration is off.
func newRegistrar(cfg config.Config, reg *clients.Registry, st store.Store, deleter clients.ClientDeleter, now func() time.Time, log *slog.Logger) (*clients.Registrar, error) {
	if cfg.DynamicRegistration == config.RegistrationOff {
		return nil, nil
	}
	return clients.NewRegistrar(clients.RegistrarConfig{
		Registry: reg,
		Mode:     cfg.DynamicRegistration,
		Policy: clients.Policy{
			GrantTypes:         cfg.RegistrationGrantTypes,
			Scopes:             cfg.RegistrationScopes,
			RedirectKinds:      cfg.RegistrationRedirectSchemes,
			AllowPublicClients: cfg.RegistrationAllowPublicClients,
		},
		Tokens:    st,
		Throttle:  st,
		PerMinute: cfg.RegistrationIPPerMinute,
		Burst:     cfg.RegistrationIPBurst,
		Deleter:   deleter,
		Now:       now,
		Logger:    log,
	})
}

// registrationOrNil and registrationTokensOrNil keep a nil *Registrar from
// becoming a non-nil interface (which would mount the endpoints).
func registrationOrNil(r *clients.Registrar) server.Registration {
	if r == nil {
		return nil
	}
	return r
}

func registrationTokensOrNil(r *clients.Registrar) server.RegistrationTokenIssuer {
	if r == nil {
		return nil
	}
	return r
}
