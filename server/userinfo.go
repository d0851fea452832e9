package server

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/authd-dev/authd/oauth"
	"github.com/authd-dev/authd/tokens"
)

// PathUserInfo is the userinfo endpoint (OIDC Core §5.3).
const PathUserInfo = "/oauth2/userinfo"

// UserInfoSource answers userinfo requests for an access token; proof is
// nil for the Bearer scheme and the request's DPoP proof for the DPoP
// scheme (RFC 9449 §7).
type UserInfoSource interface {
	UserInfo(ctx context.Context, accessToken string, proof *tokens.DPoPRequest) (map[string]any, error)
}

// handleUserInfo is OIDC Core §5.3 with RFC 6750 errors, and RFC 9449 §7
// for DPoP-bound tokens: "Authorization: DPoP <token>" with a DPoP proof
// whose htm is the request's method and htu the userinfo URL under the
// issuer. With server nonces on, a proof without the current one is
// 401 with WWW-Authenticate: DPoP error="use_dpop_nonce" and the nonce in
// DPoP-Nonce (§9; writeError sets the header).
func (s *Server) handleUserInfo(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	tok, scheme := accessToken(r)
	if tok == "" && r.Method == http.MethodPost {
		if err := s.parseForm(w, r); err == nil {
			tok, scheme = r.PostForm.Get("access_token"), "Bearer" // RFC 6750 §2.2
		}
	}
	if tok == "" {
		s.challenge(w, "", "", "")
		writeJSON(w, http.StatusUnauthorized, errorBody{Error: oauth.InvalidToken, Description: "an access token is required"})
		return
	}
	var proof *tokens.DPoPRequest
	if scheme == tokens.TokenTypeDPoP {
		proof = &tokens.DPoPRequest{Proofs: r.Header.Values("DPoP"), Method: r.Method, URL: s.userInfoURL}
	}
	info, err := s.cfg.UserInfo.UserInfo(r.Context(), tok, proof)
	if err != nil {
		// RFC 6750 §3, RFC 9449 §7.1: the challenge names the error, in
		// the DPoP scheme for a DPoP request or a DPoP-bound token.
		if e := oauth.As(err); e != nil && (e.Code == oauth.InvalidToken || e.Code == oauth.InsufficientScope || e.Code == oauth.InvalidDPoPProof || e.Code == oauth.UseDPoPNonce) {
			if proof != nil || errors.Is(err, tokens.ErrDPoPRequired) {
				scheme = tokens.TokenTypeDPoP
			} else {
				scheme = tokens.TokenTypeBearer
			}
			s.challenge(w, scheme, e.Code, e.Description)
		}
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}

// accessToken reads "Authorization: Bearer <token>" or "Authorization:
// DPoP <token>" (RFC 9449 §7.1) and returns the token and the scheme
// ("Bearer" or "DPoP"); "" when neither.
func accessToken(r *http.Request) (token, scheme string) {
	sch, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	switch {
	case !ok || tok == "":
		return "", ""
	case strings.EqualFold(sch, tokens.TokenTypeBearer):
		return tok, tokens.TokenTypeBearer
	case strings.EqualFold(sch, tokens.TokenTypeDPoP):
		return tok, tokens.TokenTypeDPoP
	}
	return "", ""
}

// challenge sets WWW-Authenticate: with no scheme, one challenge per
// scheme the endpoint accepts (RFC 9110 §11.6.1); DPoP challenges list the
// accepted proof algorithms (RFC 9449 §7.1). code and desc are the error,
// if any.
func (s *Server) challenge(w http.ResponseWriter, scheme, code, desc string) {
	params := func(scheme string) string {
		v := scheme + ` realm="authd"`
		if scheme == tokens.TokenTypeDPoP {
			v += `, algs="` + strings.Join(s.cfg.DPoPAlgorithms, " ") + `"`
		}
		if code != "" {
			v += `, error="` + code + `"`
			if desc != "" {
				v += `, error_description="` + strings.ReplaceAll(desc, `"`, `'`) + `"`
			}
		}
		return v
	}
	h := w.Header()
	switch {
	case scheme != "":
		h.Set("WWW-Authenticate", params(scheme))
	default:
		h.Set("WWW-Authenticate", params(tokens.TokenTypeBearer))
		if len(s.cfg.DPoPAlgorithms) > 0 {
			h.Add("WWW-Authenticate", params(tokens.TokenTypeDPoP))
		}
	}
}
