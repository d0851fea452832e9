package store

import (
	"context"
	"time"
)

// PushedRequests keeps pushed authorization requests (RFC 9126): what a
// client pushed to the pushed authorization request endpoint (§2), until
// the authorization endpoint takes it by its request_uri (§4). Every
// replica sharing the store sees the same requests, so a request pushed
// to one replica is found by the browser on any other, and taken once.
//
// The store never sees a request_uri: callers pass a digest of its
// random part as id, so a copy of the store names no usable request_uri.
// Records end by themselves at their expiresAt (a TTL on every backend).
type PushedRequests interface {
	// PutPushedRequest stores req under id until expiresAt. ErrExists if
	// a live request already has id; an expiresAt that is not after the
	// backend's clock is an error.
	PutPushedRequest(ctx context.Context, id string, req []byte, expiresAt time.Time) error
	// TakePushedRequest returns the request stored under id and deletes
	// it, atomically: of any number of concurrent calls on any replicas,
	// exactly one gets the request; the others, and every later call, get
	// ErrNotFound. A request past its expiresAt is ErrNotFound too.
	TakePushedRequest(ctx context.Context, id string) ([]byte, error)
}
