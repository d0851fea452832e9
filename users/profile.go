package users

import (
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/store"
)

// Limits of the profile fields (OIDC Core §5.1 gives no bounds; these keep
// records and tokens small).
const (
	MaxNameLen        = 256  // characters, for name, given_name, family_name
	MaxPhoneLen       = 32   // bytes
	MaxPictureLen     = 2048 // bytes
	MaxAttributes     = 32   // entries
	MaxAttributeKey   = 64   // bytes
	MaxAttributeValue = 1024 // bytes
)

// Profile is the optional OIDC profile of a user as the admin API reads
// and shows it (OIDC Core §5.1 names).
type Profile struct {
	Name          string            `json:"name,omitempty"`
	GivenName     string            `json:"given_name,omitempty"`
	FamilyName    string            `json:"family_name,omitempty"`
	EmailVerified bool              `json:"email_verified"`
	PhoneNumber   string            `json:"phone_number,omitempty"`
	Locale        string            `json:"locale,omitempty"`
	Picture       string            `json:"picture,omitempty"`
	MFARequired   bool              `json:"mfa_required"`
	Attributes    map[string]string `json:"attributes,omitempty"`
}

// ProfilePatch changes profile fields of PATCH /admin/users/{id}; nil
// fields stay as they are, "" clears a string.
type ProfilePatch struct {
	Name          *string            `json:"name"`
	GivenName     *string            `json:"given_name"`
	FamilyName    *string            `json:"family_name"`
	EmailVerified *bool              `json:"email_verified"`
	PhoneNumber   *string            `json:"phone_number"`
	Locale        *string            `json:"locale"`
	Picture       *string            `json:"picture"`
	MFARequired   *bool              `json:"mfa_required"`
	Attributes    *map[string]string `json:"attributes"`
}

func profileView(p store.Profile) Profile {
	return Profile{Name: p.Name, GivenName: p.GivenName, FamilyName: p.FamilyName, EmailVerified: p.EmailVerified,
		PhoneNumber: p.PhoneNumber, Locale: p.Locale, Picture: p.Picture, MFARequired: p.MFARequired, Attributes: p.Attributes}
}

// record checks p and returns the stored form.
func (p Profile) record() (store.Profile, error) {
	for _, f := range []struct{ name, v string }{{"name", p.Name}, {"given_name", p.GivenName}, {"family_name", p.FamilyName}} {
		if err := checkName(f.name, f.v); err != nil {
			return store.Profile{}, err
		}
	}
	if err := checkPhone(p.PhoneNumber); err != nil {
		return store.Profile{}, err
	}
	if err := checkLocale(p.Locale); err != nil {
		return store.Profile{}, err
	}
	if err := checkPicture(p.Picture); err != nil {
		return store.Profile{}, err
	}
	if err := checkAttributes(p.Attributes); err != nil {
		return store.Profile{}, err
	}
	attrs := p.Attributes
	if len(attrs) == 0 {
		attrs = nil
	}
	return store.Profile{Name: p.Name, GivenName: p.GivenName, FamilyName: p.FamilyName, EmailVerified: p.EmailVerified,
		PhoneNumber: p.PhoneNumber, Locale: p.Locale, Picture: p.Picture, MFARequired: p.MFARequired, Attributes: attrs}, nil
}

// apply checks the patch against the current profile and returns the new one.
func (pp ProfilePatch) apply(cur store.Profile) (store.Profile, error) {
	p := profileView(cur)
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&p.Name, pp.Name)
	set(&p.GivenName, pp.GivenName)
	set(&p.FamilyName, pp.FamilyName)
	set(&p.PhoneNumber, pp.PhoneNumber)
	set(&p.Locale, pp.Locale)
	set(&p.Picture, pp.Picture)
	if pp.EmailVerified != nil {
		p.EmailVerified = *pp.EmailVerified
	}
	if pp.MFARequired != nil {
		p.MFARequired = *pp.MFARequired
	}
	if pp.Attributes != nil {
		p.Attributes = *pp.Attributes
	}
	return p.record()
}

func invalid(field, format string, args ...any) error {
	return oauth.New(oauth.InvalidRequest, field+": "+format, args...)
}

func printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

func checkName(field, v string) error {
	if utf8.RuneCountInString(v) > MaxNameLen || !printable(v) {
		return invalid(field, "at most %d characters, without control characters", MaxNameLen)
	}
	return nil
}

// phonePattern is E.164 as OIDC Core §5.1 recommends ("+1 (425)
// 555-1212"), with the usual separators and an optional RFC 3966
// extension (";ext=5678").
var phonePattern = regexp.MustCompile(`^\+?[0-9][0-9 ().-]*[0-9](;ext=[0-9]{1,10})?$`)

func checkPhone(v string) error {
	if v != "" && (len(v) > MaxPhoneLen || !phonePattern.MatchString(v)) {
		return invalid("phone_number", "%q is not a phone number such as +1 (425) 555-1212", v)
	}
	return nil
}

// localePattern is the shape of a BCP 47 language tag (RFC 5646 §2.1:
// a 2–3 letter language, then subtags of 1–8 letters or digits); OIDC
// Core §5.1 also allows the underscore of POSIX locales.
var localePattern = regexp.MustCompile(`^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8}){0,4}$`)

func checkLocale(v string) error {
	if v != "" && !localePattern.MatchString(v) {
		return invalid("locale", "%q is not a BCP 47 language tag such as en-US", v)
	}
	return nil
}

func checkPicture(v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || len(v) > MaxPictureLen || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "" {
		return invalid("picture", "must be an https URL of at most %d bytes, without credentials or fragment", MaxPictureLen)
	}
	return nil
}

// attributeKey is the shape of an attribute name.
var attributeKey = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

func checkAttributes(attrs map[string]string) error {
	if len(attrs) > MaxAttributes {
		return invalid("attributes", "at most %d entries", MaxAttributes)
	}
	for k, v := range attrs {
		if !attributeKey.MatchString(k) {
			return invalid("attributes", "name %q must be 1 to %d of A-Z a-z 0-9 _ . : -", k, MaxAttributeKey)
		}
		if len(v) > MaxAttributeValue || !printable(v) {
			return invalid("attributes", "value of %q must be at most %d bytes of text", k, MaxAttributeValue)
		}
	}
	return nil
}
