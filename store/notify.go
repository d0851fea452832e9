package store

import "context"

// Topics of the notifications authd publishes.
const (
	// TopicClients carries the id of a client that was created, changed
	// or deleted: every replica drops its cached copy.
	TopicClients = "clients"
	// TopicKeys says the signing key set changed (the message is the new
	// version): every replica reloads it.
	TopicKeys = "keys"
	// TopicUsers carries the id of a user that was created, changed
	// (roles, password, NotBefore …) or deleted: every replica drops its
	// cached copy.
	TopicUsers = "users"
)

// NoticeKind says what a Notice reports.
type NoticeKind int

const (
	// NoticeMessage: a message published on the topic.
	NoticeMessage NoticeKind = iota + 1
	// NoticeSubscribed: the subscription is (again) live. Messages sent
	// while it was down are lost, so a subscriber resynchronises here
	// (drops its caches, reloads).
	NoticeSubscribed
	// NoticeLost: the subscription went down; until the next
	// NoticeSubscribed, messages may be lost and the subscriber relies on
	// its own polling or TTLs.
	NoticeLost
)

// Notice is one event of a subscription.
type Notice struct {
	Kind NoticeKind
	// Msg is the message of a NoticeMessage.
	Msg string
}

// Notifier broadcasts short messages to every replica sharing the store
// (on Redis by Pub/Sub; on bolt, one node, in process). Delivery is best
// effort, at most once and not necessarily in order (on a Redis Cluster
// successive messages may travel through different nodes): a message
// published while a subscriber is disconnected is lost, which
// NoticeSubscribed announces. Messages should therefore be idempotent
// signals ("client X changed", "reload the keys"), never state.
// Notifications speed up what polling and TTLs guarantee; they never
// replace them.
type Notifier interface {
	// Publish sends msg to the current subscribers of topic.
	Publish(ctx context.Context, topic, msg string) error
	// Subscribe calls fn with the events of topic, one at a time, until
	// ctx ends, and then returns ctx.Err(). The first event is
	// NoticeSubscribed once the subscription is live; the subscription
	// reconnects by itself after a failure (NoticeLost, then
	// NoticeSubscribed again). fn must not block for long.
	Subscribe(ctx context.Context, topic string, fn func(Notice)) error
}
