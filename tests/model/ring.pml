/* SPDX-License-Identifier: MIT */
/*
 * T15: the ring protocol of src/ring/ring.c (docs/RING.md), as a Promela
 * model for spin, with crashes of either side at any step.
 *
 * One producer and one consumer process; a ring of C slots, one unit-size
 * message per slot; positions modulo M = 2C (so they wrap, and a position
 * that ran ahead by more than the ring is still told apart); N messages.
 * Every access to the shared lines is one step, in the order of the code:
 * sequential consistency, which is what the code's seq_cst stores,
 * read-modify-writes and fences give to the pairs that matter (the
 * want-bit/position handshake of wake_peer() and wait_moved()).
 *
 * Configurations (preprocessor macros, see run_spin.sh):
 *   default         no crash, no sleep slice: a lost wake-up is a deadlock
 *                   (an invalid end state), nothing hides it;
 *   -DKP=n -DKC=n   up to n crashes of the producer (consumer); each is
 *                   replaced by a new incarnation that attaches again;
 *   -DSLICE         FUTEX_WAIT may also return because its 100 ms slice
 *                   ran out (the code relies on it to notice a dead peer);
 *   -DBUG_WAKE      broken: the waker loads the want bits before it stores
 *                   its position (a lost wake-up);
 *   -DBUG_RELEASE   broken: the consumer stores tail before it reads the
 *                   message (the producer may overwrite it);
 *   -DNO_MORE       no batched commits (SHMKIT_RING_F_MORE);
 *   -DATTACH_WAKE   as the code does (shmkit_ring_attach()): a new holder
 *                   bumps the peer's futex word and wakes it once it has
 *                   attached (the wake a dead holder may have owed), so
 *                   that crash recovery does not wait for the slice;
 *   -DHOLD=n        the consumer holds up to n peeked messages (<= C).
 *
 * Ghost state (not in the ring; it checks it): gpub, the number of
 * messages published (set with the store of head); relv, the number
 * released (set with the store of tail); acc, the number the consumer has
 * accepted. The consumer's ledger is that of tests/crash/test_ring_crash.c,
 * exact: a new consumer expects the first message not released, and a
 * message is accepted again only if its release had not been stored.
 */

#ifndef C
#define C 2
#endif
#define M (2 * C)
#ifndef N
#define N 5
#endif
#ifndef KP
#define KP 0
#endif
#ifndef KC
#define KC 0
#endif
#ifndef HOLD
#define HOLD 2
#endif
/* Futex words count modulo WAKE_MOD. With the code's protocol at most two
 * bumps fall between a sleeper's read of the word and its FUTEX_WAIT (one
 * for a bit taken before, one for the bit it set), so 4 tells them apart
 * as 2^32 does; the attach wake bumps once more per new holder. */
#ifdef ATTACH_WAKE
#define WAKE_MOD 8
#else
#define WAKE_MOD 4
#endif
#define EMPTY 255
/* a - b for positions modulo M: how far a is ahead of b. */
#define DIST(a, b) (((a) + M - (b)) % M)
#define NEXT(p) (((p) + 1) % M)

/* The producer's line. */
byte head;   /* position past the last published record */
bit eof;     /* the stream is shut down */
bit pwant;   /* WANT_FUTEX of the consumer about to sleep */
byte pwake;  /* the futex word the consumer sleeps on */
byte powner; /* the producer's token: its incarnation number, 0 none */
/* The consumer's line. */
byte tail;
bit cwant;   /* WANT_FUTEX of the producer about to sleep */
byte cwake;
byte cowner;
/* The ring: the value (sequence) of the message written in each slot. */
byte ring[C] = EMPTY;

/* The kernel's futex queues: who is blocked in FUTEX_WAIT. */
bit psleep;  /* the producer, on cwake */
bit csleep;  /* the consumer, on pwake */

/* Liveness: the incarnation that is (or will be) alive; a token that is
 * not it belongs to a dead process. */
byte pinc = 1;
byte cinc = 1;

/* Ghosts. */
byte gpub;   /* messages published */
byte relv;   /* messages released */
byte acc;    /* messages accepted by the consumer */
bit pfin;    /* the producer shut down and closed */
bit cfin;    /* the consumer saw the end of stream and closed */

/* Crash injection: the killer raises a flag; the victim's escape (unless)
 * takes it before its next step, whatever that step is, a blocked one
 * included. While a flag is up the other side does not move (provided):
 * the flag adds no interleavings of its own. */
bit kill_p;
bit kill_c;
byte pk;
byte ck;

/* FUTEX_WAIT: compare and block atomically; returns at a FUTEX_WAKE or,
 * with the slice, when the slice runs out. */
inline futex_wait(word, seen, sleeping)
{
	atomic { if :: word == seen -> sleeping = 1 :: else fi };
	if
	:: sleeping == 0
#ifdef SLICE
	:: sleeping == 1 -> sleeping = 0 /* the 100 ms slice ran out */
#endif
	fi
}

/* wake_peer(), after the store of our position (seq_cst). */
inline wake_peer(want, wake, sleeping)
{
#ifndef BUG_WAKE
	w = want;                           /* load (seq_cst) */
#endif
	if
	:: w != 0 ->
		atomic { w = want; want = 0 };  /* exchange (seq_cst) */
		if
		:: w != 0 ->
			wake = (wake + 1) % WAKE_MOD;  /* fetch_add (seq_cst) */
			sleeping = 0            /* FUTEX_WAKE, 1 */
		:: else
		fi
	:: else
	fi;
	w = 0
}

/* ---------------------------------------------------------------------- */
/* The producer: attach, then send N messages (reserve, write, commit with
 * or without SHMKIT_RING_F_MORE), then shutdown and close. */

/* shmkit_ring_flush(): the commit point is the store of head. */
inline flush()
{
	if
	:: h != pub ->
#ifdef BUG_WAKE
		w = pwant;
#endif
		atomic { head = h; gpub = seq; pub = h };
		wake_peer(pwant, pwake, csleep)
	:: else
	fi
}

/* wait_moved() of the producer: moved() is "tail != tail_seen". Leaves
 * through p_moved (0, or -ECONNRESET: both go on in room_for()). */
inline p_wait()
{
	do
	:: seen = cwake;                        /* load (seq_cst) */
		cwant = 1;                      /* fetch_or (seq_cst), fence */
		if
		:: tail != ts -> cwant = 0; goto p_moved /* moved(); fetch_and */
		:: else
		fi;
		futex_wait(cwake, seen, psleep);
		cwant = 0;                      /* fetch_and (relaxed) */
		if
		:: tail != ts -> goto p_moved
		:: else
		fi;
		/* peer_check(): a dead consumer's role is freed (once). */
		o = cowner;
		if
		:: o != 0 && o != cinc ->
			atomic {
				if
				:: cowner == o -> cowner = 0; o = 0; goto p_moved /* -ECONNRESET */
				:: else -> o = 0
				fi
			}
		:: else -> o = 0
		fi
	od
}

active proctype producer() provided (!kill_c)
{
	byte h, pub, ts, seq, t, seen, o;
	bit w;

restart:
	{
		/* shmkit_ring_attach(): the role, by CAS from 0 or a dead token. */
		atomic { powner == 0 || powner != pinc -> powner = pinc };
		/* positions(): tail, then head. */
		ts = tail;
		atomic {
			h = head; pub = h; seq = gpub;
			assert(DIST(h, ts) <= C)        /* no -EBADMSG */
		};
		cwant = 0;  /* a dead holder's wishes to be woken are stale */
		eof = 0;
#ifdef ATTACH_WAKE
		pwake = (pwake + 1) % WAKE_MOD; /* the wake a dead holder may owe */
		csleep = 0;
#endif

		do
		:: seq < N ->
			/* shmkit_ring_reserve() -> room_for(1) */
			do
			:: DIST(h, ts) + 1 <= C -> break
			:: else ->
				atomic {
					t = tail;
					assert(DIST(pub, t) <= C) /* no -EBADMSG */
				};
				if
				:: t != ts -> ts = t; t = 0
				:: else ->
					t = 0;
					/* publish a batch before sleeping on it */
					flush();
					p_wait();
p_moved:				skip
				fi
			od;
			/* the message and its header, then commit */
			atomic {
				/* never over a record not released (a dead
				 * producer's unpublished one aside) */
				assert(ring[h % C] == EMPTY || ring[h % C] < relv ||
				       ring[h % C] >= gpub);
				ring[h % C] = seq;
				h = NEXT(h);
				seq++
			};
			if
#ifndef NO_MORE
			:: true -> skip /* SHMKIT_RING_F_MORE */
#endif
			:: true -> flush()
			fi
		:: else -> break
		od;

		/* shmkit_ring_shutdown() */
		flush();
#ifdef BUG_WAKE
		w = pwant;
#endif
		eof = 1;
		wake_peer(pwant, pwake, csleep);
		/* shmkit_ring_close(): give the role back (CAS) */
		atomic { if :: powner == pinc -> powner = 0 :: else fi };
		pfin = 1
	} unless {
		kill_p ->
		atomic {
			/* SIGKILL: the process and its futex wait are gone;
			 * its token is dead; a new incarnation starts. */
			kill_p = 0; psleep = 0; pinc++;
			h = 0; pub = 0; ts = 0; seq = 0; t = 0; seen = 0; o = 0; w = 0
		};
		goto restart
	}
}

/* ---------------------------------------------------------------------- */
/* The consumer: attach, then peek messages and release them (one at a
 * time, or several peeked messages at once), until the end of stream. */

/* publish_tail(): the commit point of a release is the store of tail. */
inline release_all()
{
#ifdef BUG_WAKE
	w = cwant;
#endif
	atomic { tail = rd; relv = nextv; t = rd; np = 0 };
	wake_peer(cwant, cwake, psleep)
}

/* wait_moved() of the consumer: moved() is "head != head_seen || eof".
 * Leaves through c_moved (0, or -ECONNRESET: the caller peeks again). */
inline c_wait()
{
	do
	:: seen = pwake;
		pwant = 1;
		if
		:: head != hs -> pwant = 0; goto c_moved
		:: else
		fi;
		if
		:: eof -> pwant = 0; goto c_moved
		:: else
		fi;
		futex_wait(pwake, seen, csleep);
		pwant = 0;
		if
		:: head != hs -> goto c_moved
		:: else
		fi;
		if
		:: eof -> goto c_moved
		:: else
		fi;
		o = powner;
		if
		:: o != 0 && o != pinc ->
			atomic {
				if
				:: powner == o -> powner = 0; o = 0; goto c_moved
				:: else -> o = 0
				fi
			}
		:: else -> o = 0
		fi
	od
}

active proctype consumer() provided (!kill_p)
{
	byte t, rd, hs, np, nextv, v, seen, o;
	bit e, w;

restart:
	{
		/* shmkit_ring_attach() */
		atomic { cowner == 0 || cowner != cinc -> cowner = cinc };
		/* positions(): tail, then head; the ledger says where we are */
		atomic { t = tail; rd = t; nextv = relv };
		atomic {
			hs = head;
			assert(DIST(hs, t) <= C)        /* no -EBADMSG */
		};
		pwant = 0;
#ifdef ATTACH_WAKE
		cwake = (cwake + 1) % WAKE_MOD;
		psleep = 0;
#endif

		do
		:: /* shmkit_ring_peek() -> data_ready() */
			do
			:: rd != hs -> break
			:: else ->
				e = eof;    /* eof before head */
				atomic {
					/* load_head() */
					v = head;
					assert(DIST(v, t) <= C && DIST(v, rd) <= C);
					hs = v; v = 0
				};
				if
				:: rd != hs -> e = 0; break
				:: else -> if :: e -> goto epipe :: else fi
				fi;
				c_wait();
c_moved:			skip
			od;
#ifdef BUG_RELEASE
			/* broken: the room is handed back before the read */
			atomic { tail = NEXT(rd); relv = nextv + 1; t = NEXT(rd) };
#endif
			/* record_at() and the caller's read of the message */
			atomic {
				v = ring[rd % C];
				assert(v != EMPTY && v < gpub); /* published */
				assert(v == nextv);     /* in order: no loss, no duplicate */
				if
				:: v == acc -> acc++    /* a new message */
				:: else -> assert(v < acc) /* peeked, not released, by a dead consumer */
				fi;
				nextv++;
				rd = NEXT(rd);
				np++;
				v = 0
			};
			/* shmkit_ring_release(r, SIZE_MAX) now, or peek more first */
			if
			:: np < HOLD -> skip
			:: true -> release_all()
			fi
		od;
epipe:
		e = 0;
		if
		:: np > 0 -> release_all()
		:: else
		fi;
		assert(acc == N && nextv == N && gpub == N); /* everything got through */
		/* shmkit_ring_close() */
		atomic { if :: cowner == cinc -> cowner = 0 :: else fi };
		cfin = 1
	} unless {
		kill_c ->
		atomic {
			kill_c = 0; csleep = 0; cinc++;
			t = 0; rd = 0; hs = 0; np = 0; nextv = 0; v = 0; seen = 0; o = 0;
			e = 0; w = 0
		};
		goto restart
	}
}

#if KP > 0 || KC > 0
/* Kills either side at any step, up to KP and KC times; or stops killing
 * at any time (then it is as if the budgets were spent, so the states
 * merge). */
active proctype killer()
{
end:	do
	:: atomic { pk < KP && !pfin && !kill_p && !kill_c -> kill_p = 1; pk++ }
	:: atomic { ck < KC && !cfin && !kill_p && !kill_c -> kill_c = 1; ck++ }
	:: atomic { pk < KP || ck < KC -> pk = KP; ck = KC }
	od
}
#endif

/* Progress: however the crashes fall, both sides finish (under weak
 * fairness; run with -a -f). */
ltl done { <> (pfin && cfin) }
