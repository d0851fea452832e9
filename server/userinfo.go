package server

import (
	"context"
	"net/http"

	"github.com/authd-dev/authd/oauth"
)

// PathUserInfo is the userinfo endpoint (OIDC Core §5.3).
const PathUserInfo = "/oauth2/userinfo"

// UserInfoSource answers userinfo requests for an access token.
type UserInfoSource interface {
	UserInfo(ctx context.Context, accessToken string) (map[string]any, error)
}

// handleUserInfo is OIDC Core §5.3 with RFC 6750 errors.
func (s *Server) handleUserInfo(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	tok, ok := bearerToken(r)
	if !ok && r.Method == http.MethodPost {
		if err := s.parseForm(w, r); err == nil {
			tok = r.PostForm.Get("access_token") // RFC 6750 §2.2
			ok = tok != ""
		}
	}
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="authd"`)
		writeJSON(w, http.StatusUnauthorized, errorBody{Error: oauth.InvalidToken, Description: "a bearer access token is required"})
		return
	}
	info, err := s.cfg.UserInfo.UserInfo(r.Context(), tok)
	if err != nil {
		// RFC 6750 §3: the challenge names the error.
		if e := oauth.As(err); e != nil && (e.Code == oauth.InvalidToken || e.Code == oauth.InsufficientScope) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="authd", error="`+e.Code+`", error_description="`+e.Description+`"`)
		}
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}
