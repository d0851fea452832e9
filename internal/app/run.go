package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/authd-dev/authd/internal/config"
)

// Run starts authd with cfg and serves until ctx is cancelled; then it
// drains in-flight requests (up to cfg.ShutdownTimeout) and returns nil.
// Logs and the dev-mode banner go to out.
//
// Log lines are buffered (LogWriter) unless cfg.LogFlushInterval is 0:
// written out every LogFlushInterval, when DefaultLogBufferSize bytes are
// waiting, and before Run returns, so a clean shutdown or a start-up error
// loses none; a crash loses at most the last interval's lines.
func Run(ctx context.Context, cfg config.Config, out io.Writer) error {
	logOut, flush := out, func() {}
	var lw *LogWriter
	if cfg.LogFlushInterval > 0 {
		lw = NewLogWriter(out, DefaultLogBufferSize, cfg.LogFlushInterval)
		defer lw.Close()
		logOut, flush = lw, lw.Flush
	}
	log := NewLogger(logOut, cfg.LogLevel, cfg.LogFormat)
	a, err := New(ctx, cfg, Options{Logger: log})
	if err != nil {
		return err
	}
	defer a.Close()
	if lw != nil {
		if err := a.Registry.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "authd_log_write_errors_total",
			Help: "Writes of buffered log lines to the log output that failed (those lines are lost).",
		}, func() float64 { return float64(lw.Errors()) })); err != nil {
			return err
		}
	}

	// Listen before anything is printed, so a taken port fails at once.
	publicLn, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	adminLn, err := net.Listen("tcp", cfg.AdminAddr)
	if err != nil {
		publicLn.Close()
		return fmt.Errorf("--admin-addr: %w", err)
	}
	if cfg.Dev {
		flush() // the lines of New before the banner
		if err := a.devBanner(ctx, out, adminLn.Addr().String()); err != nil {
			publicLn.Close()
			adminLn.Close()
			return err
		}
	}

	public := newHTTPServer(a.Server.Public())
	admin := newHTTPServer(a.Server.Admin())
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serve(public, publicLn) })
	g.Go(func() error { return serve(admin, adminLn) })
	g.Go(func() error { return a.Run(gctx) })
	g.Go(func() error {
		<-gctx.Done()
		log.Info("shutting down: draining in-flight requests", "timeout", cfg.ShutdownTimeout)
		sctx, cancel := context.WithTimeout(context.Background(), max(cfg.ShutdownTimeout, time.Second))
		defer cancel()
		return errors.Join(public.Shutdown(sctx), admin.Shutdown(sctx))
	})
	log.Info("authd started", "addr", publicLn.Addr().String(), "admin_addr", adminLn.Addr().String(),
		"issuer", cfg.Issuer, "store", cfg.Store, "dev", cfg.Dev)
	err = g.Wait()
	if err == nil {
		log.Info("authd stopped")
	}
	return err
}

func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
	}
}

// serve runs srv on ln; a normal shutdown is not an error.
func serve(srv *http.Server, ln net.Listener) error {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
