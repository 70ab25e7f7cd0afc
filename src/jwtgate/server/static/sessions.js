// How the account page shows a session: the device in words, moments relative to now.

// Order matters: most browsers also claim the tokens of the ones they grew from
// (Edge says "Chrome" and "Safari", Chrome says "Safari"), so the specific ones come first.
const BROWSERS = [
  [/\bEdg(e|A|iOS)?\//, "Edge"],
  [/\bOPR\/|\bOpera\b/, "Opera"],
  [/\bSamsungBrowser\//, "Samsung Internet"],
  [/\bFirefox\/|\bFxiOS\//, "Firefox"],
  [/\bHeadlessChrome\//, "Headless Chrome"],
  [/\bCriOS\/|\bChrome\//, "Chrome"],
  [/\bChromium\//, "Chromium"],
  [/\bVersion\/[\d.]+.*\bSafari\//, "Safari"],
  [/\bcurl\//, "curl"],
  [/\bpython-httpx\//, "Python httpx"],
  [/\bpython-requests\//, "Python requests"],
];

const SYSTEMS = [
  [/\biPhone\b/, "iOS"],
  [/\biPad\b/, "iPadOS"],
  [/\bAndroid\b/, "Android"],
  [/\bWindows\b/, "Windows"],
  [/\bCrOS\b/, "ChromeOS"],
  [/\bMac OS X\b|\bMacintosh\b/, "macOS"],
  [/\bLinux\b/, "Linux"],
];

const MAX_UNKNOWN = 40; // an unrecognised agent is shown by its first word, cut to this length

function firstMatch(table, text) {
  for (const [pattern, name] of table) if (pattern.test(text)) return name;
  return null;
}

/** "Chrome on Android", "Firefox", "curl", or "Unknown device". */
export function describeDevice(userAgent) {
  const agent = (userAgent || "").trim();
  if (!agent) return "Unknown device";
  let browser = firstMatch(BROWSERS, agent);
  const system = firstMatch(SYSTEMS, agent);
  if (!browser && !system) {
    const word = agent.split(/[\s/(]/, 1)[0] || agent;
    return word.length > MAX_UNKNOWN ? `${word.slice(0, MAX_UNKNOWN)}…` : word;
  }
  if (!browser) browser = "Browser";
  return system ? `${browser} on ${system}` : browser;
}

const UNITS = [
  ["year", 365 * 24 * 3600],
  ["month", 30 * 24 * 3600],
  ["week", 7 * 24 * 3600],
  ["day", 24 * 3600],
  ["hour", 3600],
  ["minute", 60],
];

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const exact = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "long" });

/** "5 minutes ago", "in 3 days", "just now" for an RFC 3339 moment seen at ``now`` (ms). */
export function relativeTime(moment, now = Date.now()) {
  const seconds = Math.round((Date.parse(moment) - now) / 1000);
  if (Math.abs(seconds) < 45) return "just now";
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size) return relative.format(Math.trunc(seconds / size), unit);
  }
  return relative.format(Math.trunc(seconds / 60) || Math.sign(seconds), "minute");
}

/** A <time> showing the relative moment, the exact local time on hover (its title). */
export function timeElement(moment, now = Date.now()) {
  const element = document.createElement("time");
  if (!moment) {
    element.textContent = "never";
    return element;
  }
  element.dateTime = moment;
  element.textContent = relativeTime(moment, now);
  element.title = exact.format(new Date(moment));
  return element;
}
