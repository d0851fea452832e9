package authorize

// clientPage adds what every page shows of the client and the request:
// its logo and document links (RFC 7591 §2 logo_uri, policy_uri, tos_uri)
// and the validated redirect_uri the page's form may end up at.
func clientPage(it *interaction, p Page) Page {
	p.LogoURI, p.PolicyURI, p.TOSURI = it.client.LogoURI, it.client.PolicyURI, it.client.TOSURI
	p.RedirectURI = it.req.RedirectURI
	return p
}
