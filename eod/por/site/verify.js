// Proof-of-reserves verifier: CONTRACT section 7 a second time, in the browser.
//
// `eod por verify` is the first implementation (eod/por/verify.py); this one exists so
// that a user needs neither our code nor our servers. It runs on the page alone: the
// published roots are embedded in the page (a page opened from disk may not fetch
// files), hashing is Web Crypto's SHA-256, and nothing is sent anywhere. Its checks and
// their order follow the Python verifier, so both refuse the same proofs for the same
// reason.
"use strict";

(function () {
  const HEX64 = /^[0-9a-f]{64}$/;
  const INTEGER = /^-?[0-9]+$/;
  const FIELDS = [
    "business_date",
    "currency",
    "user_id",
    "nonce",
    "units",
    "leaf_hash",
    "path",
    "root_hash",
    "root_sum",
  ];

  class Refusal extends Error {}

  // A JSON number as written. Amounts in base units pass 2^53 (one ETH is 10^18
  // units), where a JavaScript number would round: keep the digits instead.
  class JsonNumber {
    constructor(source) {
      this.source = source;
    }
  }

  function parseJson(text) {
    let exact = true;
    const value = JSON.parse(text, function (key, value, context) {
      if (typeof value !== "number") return value;
      if (context && typeof context.source === "string") return new JsonNumber(context.source);
      // a browser without JSON source access: only numbers it holds exactly are usable
      if (!Number.isSafeInteger(value)) exact = false;
      return new JsonNumber(String(value));
    });
    if (!exact) {
      throw new Refusal("this browser cannot read integers above 2^53 exactly; use a recent one");
    }
    return value;
  }

  function show(value) {
    if (value instanceof JsonNumber) return value.source;
    if (value === undefined) return "None";
    return JSON.stringify(value, (k, v) => (v instanceof JsonNumber ? Number(v.source) : v));
  }

  function isPlainObject(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value) &&
      !(value instanceof JsonNumber);
  }

  // Whole and not negative, as a JSON number or a decimal string (like _integer in Python).
  function integer(value, what) {
    let text = null;
    if (value instanceof JsonNumber && INTEGER.test(value.source)) text = value.source;
    if (typeof value === "string" && INTEGER.test(value)) text = value;
    if (text === null) throw new Refusal(`${what} must be an integer, got ${show(value)}`);
    const number = BigInt(text);
    if (number < 0n) throw new Refusal(`${what} is negative: ${number}`);
    return number;
  }

  function hex(value, what) {
    if (typeof value !== "string" || !HEX64.test(value)) {
      throw new Refusal(`${what} must be 64 lowercase hex digits, got ${show(value)}`);
    }
    return value;
  }

  function isoDate(text) {
    const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
    if (!match) return false;
    const day = new Date(Date.UTC(+match[1], +match[2] - 1, +match[3]));
    return day.toISOString().slice(0, 10) === text;
  }

  async function sha256(text) {
    if (!(window.crypto && window.crypto.subtle)) {
      throw new Refusal("this browser gives the page no Web Crypto (open it from disk or https)");
    }
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
    return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // The proof's own consistency: leaf, path and claimed root (verify_proof in Python).
  async function followPath(proof, trace) {
    if (!isPlainObject(proof)) throw new Refusal("a proof must be a JSON object");
    const missing = FIELDS.filter((name) => !(name in proof));
    if (missing.length) throw new Refusal("proof has no " + missing.join(", "));
    const day = proof.business_date instanceof JsonNumber
      ? proof.business_date.source : String(proof.business_date);
    if (!isoDate(day)) {
      throw new Refusal(`business_date is not YYYY-MM-DD: ${show(proof.business_date)}`);
    }
    const user = proof.user_id;
    if (!(user instanceof JsonNumber) || !INTEGER.test(user.source)) {
      throw new Refusal(`user_id must be an integer, got ${show(user)}`);
    }
    const userId = BigInt(user.source);
    const currency = proof.currency;
    if (typeof currency !== "string" || !currency) {
      throw new Refusal(`currency must be a code, got ${show(currency)}`);
    }
    const units = integer(proof.units, "units");
    const nonce = hex(proof.nonce, "nonce");
    const leaf = await sha256(`leaf|${nonce}|${userId}|${currency}|${units}`);
    if (hex(proof.leaf_hash, "leaf_hash") !== leaf) {
      throw new Refusal(`leaf_hash ${proof.leaf_hash} is not the hash of the leaf (${leaf})`);
    }
    trace.push({ what: "leaf", hash: leaf, sum: units });
    if (!Array.isArray(proof.path)) throw new Refusal("path must be a list");
    let current = leaf;
    let total = units;
    for (const [level, step] of proof.path.entries()) {
      if (!isPlainObject(step)) throw new Refusal(`path[${level}] must be an object`);
      const sibling = hex(step.hash, `path[${level}].hash`);
      const siblingSum = integer(step.sum, `path[${level}].sum`);
      if (step.side === "left") {
        current = await sha256(`node|${sibling}|${siblingSum}|${current}|${total}`);
      } else if (step.side === "right") {
        current = await sha256(`node|${current}|${total}|${sibling}|${siblingSum}`);
      } else {
        throw new Refusal(`path[${level}].side must be 'left' or 'right', got ${show(step.side)}`);
      }
      total += siblingSum;
      trace.push({ what: `path[${level}] (sibling on the ${step.side})`, hash: current, sum: total });
    }
    const rootHash = hex(proof.root_hash, "root_hash");
    const rootSum = integer(proof.root_sum, "root_sum");
    if (current !== rootHash) {
      throw new Refusal(`the path leads to root ${current}, not to root_hash ${rootHash}`);
    }
    if (total !== rootSum) {
      throw new Refusal(`the path sums to ${total}, not to root_sum ${rootSum}`);
    }
    return { day, userId, currency, units, rootHash, rootSum };
  }

  // The proof, then the root published on this page (check_published in Python).
  async function verify(proof, published, trace) {
    const held = await followPath(proof, trace);
    const where = `${held.currency} on ${held.day}`;
    if (held.day !== published.business_date) {
      throw new Refusal(
        `the proof is for ${held.day}; this page publishes the roots of ${published.business_date}`);
    }
    const root = published.roots[held.currency];
    if (!root) throw new Refusal(`no proof of reserves is published for ${where}`);
    if (root.root_hash !== held.rootHash) {
      throw new Refusal(
        `root_hash ${held.rootHash} is not the published root ${root.root_hash} (${where})`);
    }
    if (BigInt(root.root_sum) !== held.rootSum) {
      throw new Refusal(
        `root_sum ${held.rootSum} is not the published sum ${root.root_sum} (${where})`);
    }
    return { ...held, decimals: root.decimals };
  }

  function inCurrencyUnits(units, decimals) {
    const digits = units.toString().padStart(decimals + 1, "0");
    if (!decimals) return digits;
    const fraction = digits.slice(-decimals).replace(/0+$/, "");
    return fraction ? `${digits.slice(0, -decimals)}.${fraction}` : digits.slice(0, -decimals);
  }

  function render(verdict, headline, reason, trace) {
    document.body.dataset.verdict = verdict;
    document.getElementById("verdict-headline").textContent = headline;
    document.getElementById("verdict-reason").textContent = reason;
    const rows = document.getElementById("trace-rows");
    rows.replaceChildren();
    for (const step of trace) {
      const row = rows.insertRow();
      row.insertCell().textContent = step.what;
      const hash = row.insertCell();
      hash.textContent = step.hash;
      hash.className = "hash";
      row.insertCell().textContent = step.sum.toString();
    }
    document.getElementById("trace").hidden = trace.length === 0;
    document.getElementById("verdict").hidden = false;
  }

  async function check(text, published) {
    const trace = [];
    try {
      let proof;
      try {
        proof = parseJson(text);
      } catch (error) {
        if (error instanceof Refusal) throw error;
        throw new Refusal(`not JSON: ${error.message}`);
      }
      const held = await verify(proof, published, trace);
      render(
        "included",
        `Included, with ${held.units} units`,
        `User ${held.userId}'s ${held.currency} balance of ` +
          `${inCurrencyUnits(held.units, held.decimals)} ${held.currency} ` +
          `(${held.units} units) is in the reserves published for ${held.day}: ` +
          `the path reaches root ${held.rootHash} with sum ${held.rootSum}.`,
        trace,
      );
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      render("refused", "Refused", error.message, trace);
    }
  }

  function fromFragment() {
    const match = /(?:^#|&)proof=([A-Za-z0-9_-]*={0,2})/.exec(window.location.hash);
    if (!match) return null;
    const b64 = match[1].replace(/-/g, "+").replace(/_/g, "/");
    try {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch (error) {
      return "";  // refused below as not JSON, like a garbled paste
    }
  }

  function start() {
    const published = JSON.parse(document.getElementById("published-roots").textContent);
    const input = document.getElementById("proof");
    const run = () => check(input.value, published);
    document.getElementById("verify").addEventListener("click", run);
    input.addEventListener("paste", () => setTimeout(run, 0));

    const take = (file) => file.text().then((text) => {
      input.value = text;
      return run();
    });
    document.getElementById("proof-file").addEventListener("change", (event) => {
      if (event.target.files.length) take(event.target.files[0]);
    });
    const zone = document.getElementById("drop-zone");
    zone.addEventListener("dragover", (event) => {
      event.preventDefault();
      zone.classList.add("over");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("over");
      if (event.dataTransfer.files.length) take(event.dataTransfer.files[0]);
    });

    const linked = () => {
      const text = fromFragment();
      if (text === null) return;
      input.value = text;
      run();
    };
    window.addEventListener("hashchange", linked);
    linked();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
