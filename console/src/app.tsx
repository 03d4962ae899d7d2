import { useEffect, useState } from "preact/hooks";
import { ApiError, onSessionChange, signedIn, signIn, signOut } from "./api.js";
import { t } from "./i18n.js";
import { CampaignEditor } from "./pages/campaign-editor.js";
import { Campaigns } from "./pages/campaigns.js";
import { Live } from "./pages/live.js";
import { People } from "./pages/people.js";
import { Results } from "./pages/results.js";
import { Settings } from "./pages/settings.js";
import { Stores } from "./pages/stores.js";
import { href, useRoute } from "./router.js";
import { errorText, Status } from "./ui.js";

export function App() {
	const [isIn, setIn] = useState(signedIn());
	const [ended, setEnded] = useState(false);
	useEffect(
		() =>
			onSessionChange(() => {
				const now = signedIn();
				setIn((was) => {
					if (was && !now) setEnded(true);
					return now;
				});
			}),
		[],
	);
	return isIn ? <Shell /> : <SignIn ended={ended} />;
}

function SignIn({ ended }: { ended: boolean }) {
	const [key, setKey] = useState("");
	const [busy, setBusy] = useState(false);
	const [error, setError] = useState<string | null>(null);
	const submit = async (e: Event) => {
		e.preventDefault();
		setBusy(true);
		setError(null);
		try {
			await signIn(key);
			// The key itself is not kept anywhere once exchanged.
			setKey("");
		} catch (err) {
			setError(err instanceof ApiError && err.status === 401 ? err.message : errorText(err));
		} finally {
			setBusy(false);
		}
	};
	return (
		<main id="main" class="signin">
			<h1>{t("appName")}</h1>
			<form onSubmit={submit} aria-labelledby="signin-title">
				<h2 id="signin-title">{t("signInTitle")}</h2>
				{ended && <Status kind="error">{t("sessionExpired")}</Status>}
				<p>{t("signInHelp")}</p>
				<label for="secret-key">{t("secretKey")}</label>
				<input
					id="secret-key"
					type="password"
					autocomplete="off"
					spellcheck={false}
					required
					pattern="sk_[A-Za-z0-9_\-]+"
					value={key}
					onInput={(e) => setKey(e.currentTarget.value)}
				/>
				<button type="submit" class="primary" disabled={busy}>
					{busy ? t("signingIn") : t("signIn")}
				</button>
				{error && <Status kind="error">{error}</Status>}
			</form>
		</main>
	);
}

const NAV = [
	["stores", "navStores"],
	["campaigns", "navCampaigns"],
	["live", "navLive"],
	["people", "navPeople"],
	["settings", "navSettings"],
] as const;

function Shell() {
	const route = useRoute();
	const [section = "stores", id, sub] = route;
	let page = <Stores />;
	if (section === "campaigns") {
		if (id === "new") page = <CampaignEditor id={null} />;
		else if (id && sub === "results") page = <Results id={id} />;
		else if (id) page = <CampaignEditor id={id} />;
		else page = <Campaigns />;
	} else if (section === "people") page = <People />;
	else if (section === "live") page = <Live />;
	else if (section === "settings") page = <Settings />;
	return (
		<>
			{/* A button, not a "#main" link: the hash holds the route. */}
			<button type="button" class="skip" onClick={() => document.getElementById("main")?.focus()}>
				{t("skipToContent")}
			</button>
			<header class="top">
				<span class="brand">{t("appName")}</span>
				<nav aria-label="Main">
					<ul>
						{NAV.map(([s, label]) => (
							<li key={s}>
								<a href={href(s)} aria-current={section === s ? "page" : undefined}>
									{t(label)}
								</a>
							</li>
						))}
					</ul>
				</nav>
				<button type="button" onClick={() => void signOut()}>
					{t("signOut")}
				</button>
			</header>
			<main id="main" tabIndex={-1}>
				{page}
			</main>
		</>
	);
}
