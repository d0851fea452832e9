package store

// Profile is a user's optional OpenID Connect profile: the standard
// claims of OIDC Core §5.1 that authd keeps (the email address is
// User.Email). Each is released by its scope (§5.4).
type Profile struct {
	Name          string `json:"name,omitempty"`
	GivenName     string `json:"given_name,omitempty"`
	FamilyName    string `json:"family_name,omitempty"`
	EmailVerified bool   `json:"email_verified,omitempty"`
	PhoneNumber   string `json:"phone_number,omitempty"`
	Locale        string `json:"locale,omitempty"`
	// Picture is an https URL of the user's picture.
	Picture string `json:"picture,omitempty"`
	// MFARequired asks for a second factor at every sign-in of the user
	// (enforced once MFA exists; stored and shown today).
	MFARequired bool `json:"mfa_required,omitempty"`
	// Attributes are the operator's own string attributes (bounded by the
	// users package).
	Attributes map[string]string `json:"attributes,omitempty"`
}
