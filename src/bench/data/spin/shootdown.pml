/*
 * shootdown.pml -- SPIN reference model of race R2 of
 * docs/model.md §1.9 of the shootdown repository: a task-context
 * emergency restart on CPU A (id 1) racing with a kdump panic on CPU B (id 2),
 * both ending in nmi_shootdown_cpus(), on an Intel/VMX machine, per kernel era.
 *
 * Knobs: give them to `spin -a` (spin runs cpp over this file), e.g.
 *   spin -o2 -DN=3 -DERA=1 -DPROP=2 -a shootdown.pml
 *
 *   N      2..4     physical CPUs, ids 1..N (slot 0 of every array unused).
 *                   CPUs 3..N sit in VMX root with a loaded VMCS, running a task.
 *   ERA    0,1,2,3  E0 (<= v5.10), E1 (v5.11), E2 (~v6.2), E3 (v6.6+).
 *                   The presets v5.10, v5.11, v6.2 and v6.6 of `shootdown kernels`.
 *   PROP   0  no property assertion: full state space + model sanity checks
 *          1  P1  no BUG/oops ever
 *          2  P2  a shootdown initiator never times out (1000 ms wait expires)
 *          3  P3  at the (first) kexec / platform reset no CPU is in VMX root
 *          4  P4  the machine always reaches kexec or reset (no hang)
 *          5  P5  the "crash" NMI handler list is never corrupted by a
 *                 double list_add
 *          6  P6  once kexec/reset happened and everything has come to rest,
 *                 no CPU is left in VMX root (for this property the world is
 *                 NOT stopped at kexec/reset: the other CPUs run on, as they
 *                 do in the old kernel after a kexec into a crash kernel)
 *          7  P7  CPU A never hits a BUG/oops when the NMI that stops it
 *                 arrived in R2 case CASE (see CASE)
 *          8  P8  CPU A never acks when stopped in case CASE
 *                 (P7/P8 violations are witnesses that fill the R2 table)
 *   CASE   1|2|3  for PROP 7/8: 1 = (i) before VMXOFF (E3: incl. the VMCLEAR
 *                 walk), 2 = (ii) after VMXOFF, before CR4.VMXE is cleared,
 *                 3 = (iii) after CR4.VMXE is cleared
 *   LAT    1  an NMI IPI is in flight on the bus and arrives at any later
 *             point (asynchronous delivery; default)
 *          0  the NMI is latched at the target in the same step as the send
 *   A_SHOOTDOWN 1 CPU A runs its own nmi_shootdown_cpus (default)
 *               0 CPU A stops after its own virt disable, i.e. only B shoots
 *                 down: isolates the R2 "Sean's variant" table (i)(ii)(iii)
 *   VMCS_A 1|0  CPU A has one VMCS on loaded_vmcss_on_cpu (default 1)
 *   REG_REFUSES_DOUBLE 0|1  register_nmi_handler() refuses a second add of
 *               the same nmiaction (WARN, -EINVAL) and nmi_shootdown_cpus()
 *               then returns before sending ("Return what?" path): upstream
 *               a7fed5c0431d "x86/nmi: Make register_nmi_handler() more
 *               robust" (v5.19, May 2022).  Default (ERA >= 2).  Without it
 *               the second add corrupts the handler list (E0/E1).
 *   DBLREG_LOOP 0|1  effect of that corruption (derived from list_add_rcu,
 *               not a documented behaviour): the list gets a self-loop, so a
 *               crashing_cpu that takes an NMI never returns.  Default 0.
 *
 * Granularity: every step of F1.2 step 1, F1.3, F1.4, F1.6/F1.7 that reads or
 * writes state observable by another CPU, and every VMX instruction, is one
 * d_step (one transition = one "instruction").  A task context takes an
 * arrived NMI before its next instruction; NMI context is never interrupted.
 * printf() lines are only executed when a trail is replayed (spin -t); they
 * do not change the state space.
 *
 * kexec / reset ends the old kernel: the first one sets `done`, which disables
 * every further transition (stop the world; P3 is checked in that step).  The
 * processes are then blocked wherever they were, so pan must be run with -E
 * (ignore invalid end states); a real hang (nobody ever reaches kexec/reset) is
 * what P4 checks explicitly.  PROP 6 does not stop the world and is run
 * without -E, so there pan's own end-state check is also in force.
 */

#ifndef N
#define N 3
#endif
#ifndef ERA
#define ERA 0
#endif
#ifndef PROP
#define PROP 0
#endif
#ifndef LAT
#define LAT 1
#endif
#ifndef A_SHOOTDOWN
#define A_SHOOTDOWN 1
#endif
#ifndef VMCS_A
#define VMCS_A 1
#endif
#ifndef DBLREG_LOOP
#define DBLREG_LOOP 0
#endif
#ifndef CASE
#define CASE 0
#endif
#ifndef REG_REFUSES_DOUBLE
#define REG_REFUSES_DOUBLE (ERA >= 2)
#endif

/* ---- era feature flags -------------------------------- */
#define VMXOFF_EATS_FAULTS         (ERA >= 1) /* E1 "Eat faults on VMXOFF"        */
#define SHOOTDOWN_ONLY_ONCE        (ERA >= 2) /* WARN+return, _on_restart guard   */
#define CORE_HANDLER_DISABLES_VIRT (ERA >= 2) /* crash_nmi_callback step 4        */
#define EMERGENCY_VIRT_CALLBACK    (ERA >= 3) /* vmx_emergency_disable(): sets
                                                 kvm_rebooting, returns if !VMXE,
                                                 VMCLEAR walk, VMXOFF, clear VMXE */

#define NC (N+1)
#define CPU_A 1
#define CPU_B 2
#define INVALID (-1)

#define VMX_OFF  0
#define VMX_ROOT 1
#define CTX_TASK 0
#define CTX_NMI  1
#define ACT_RUNNING 0
#define ACT_HLT     1

#define CB_NULL   0
#define CB_VMXOFF 1   /* vmxoff_nmi (E0/E1 emergency restart)  */
#define CB_KDUMP  2   /* kdump_nmi_callback                     */

#define K_NONE        0
#define K_VMCLEAR_BUG 1   /* VMCLEAR #UD -> kvm_spurious_fault -> BUG (kvm_rebooting=0) */
#define K_VMXOFF_OOPS 2   /* VMXOFF #UD without fixup (E0) -> invalid opcode oops       */

#define FIN_NONE  0
#define FIN_KEXEC 1
#define FIN_RESET 2

/* ---- per physical CPU ---------------------------------- */
byte vmx[NC];          /* VMX_OFF / VMX_ROOT                                   */
bit  vmxe[NC];         /* CR4.VMXE                                             */
bit  vmcsLoaded[NC];   /* one entry on loaded_vmcss_on_cpu (never removed here) */
bit  vmcsDirty[NC];    /* that VMCS not VMCLEARed since it was loaded          */
bit  nmiBlocked[NC];   /* set by NMI delivery, cleared by IRET                 */
bit  nmiLatched[NC];   /* arrived NMI not yet delivered (at most one)          */
byte nmiInFlight[NC];  /* LAT=1: sent, not yet arrived                         */
bit  IF[NC];
bit  savedIF[NC];      /* IF of the interrupted frame, restored by IRET        */
byte act[NC];          /* ACT_RUNNING / ACT_HLT                                */
byte ctx[NC];          /* CTX_TASK / CTX_NMI                                   */
bit  stuck[NC];        /* never leaves NMI context again (halted / oops spin)  */
bit  taskDead[NC];     /* task context died in an oops (not expected)          */
bit  inWait[NC];       /* inside the 1000 ms poll of nmi_shootdown_cpus        */
bit  acked[NC];        /* did atomic_dec(&waiting_for_crash_ipi)               */
bit  gone[NC];         /* PROP 6: this CPU executed kexec / reset itself       */

/* ---- shared kernel globals ---------------------------- */
bit   kvm_rebooting;
bit   crash_ipi_issued;
short crashing_cpu = INVALID;
short waiting_for_crash_ipi;
byte  shootdown_callback = CB_NULL;
short panic_cpu = INVALID;
byte  nmi_regs;               /* register_nmi_handler("crash") calls so far */
bit   regFailed[NC];          /* this CPU's register_nmi_handler returned -EINVAL */

/* ---- observations ---------------------------------------------------------- */
#if PROP >= 7
byte aPhase;                  /* CPU A task: 0 before VMXOFF, 1 after VMXOFF,
                                 2 after CR4.VMXE cleared                     */
byte aCase;                   /* 1 + aPhase when A's NMI went on to the callback */
#define A_PHASE(k) if :: me == CPU_A && ctx[me] == CTX_TASK -> aPhase = k \
                      :: else -> skip fi
#else
#define A_PHASE(k) skip
#endif
byte oopsCpu;                 /* first CPU with a BUG/oops (0 = none)        */
byte oopsKind;
byte timedOutCpu;             /* first initiator whose wait expired (0 = none) */
byte finished = FIN_NONE;     /* first kexec / reset                         */
byte finisher;
bit  done;                    /* the old kernel is left: stop the world      */
byte warns;                   /* WARN_ON_ONCE(crash_ipi_issued) hits         */
bit  dblReg;                  /* crash handler added twice: list corrupted   */
bit  regRefused;              /* a second registration was refused (WARN)    */
byte nmisLost;                /* NMIs merged into an already latched one    */
byte faultsEaten;

/* the task context of `me` may run its next instruction: it is in task
 * context and no NMI has arrived (an arrived NMI is taken first)          */
#define GT (!done && ctx[me] == CTX_TASK && !nmiLatched[me])
#define GN (!done)             /* NMI context: never interrupted            */

#define LOG(s) printf(s, me)

/* ---- NMI IPI to all-but-self (apic->send_IPI_allbutself(NMI_VECTOR)) ----- */
#if LAT
#define SEND1(t) if :: (t) != me -> nmiInFlight[t]++ :: else -> skip fi
#else
#define SEND1(t) if :: (t) != me -> \
                      if :: nmiLatched[t] -> nmisLost++ \
                         :: else -> nmiLatched[t] = 1 fi \
                    :: else -> skip fi
#endif
#if N == 2
#define SEND_ALLBUTSELF SEND1(1); SEND1(2)
#elif N == 3
#define SEND_ALLBUTSELF SEND1(1); SEND1(2); SEND1(3)
#else
#define SEND_ALLBUTSELF SEND1(1); SEND1(2); SEND1(3); SEND1(4)
#endif

/* a wait loop that could still expire (the hang monitor must not fire
 * where an initiator would time out and carry on)                     */
#define LIVE_WAIT(c) (inWait[c] && !stuck[c])
#if N == 2
#define ANY_LIVE_WAIT (LIVE_WAIT(1) || LIVE_WAIT(2))
#elif N == 3
#define ANY_LIVE_WAIT (LIVE_WAIT(1) || LIVE_WAIT(2) || LIVE_WAIT(3))
#else
#define ANY_LIVE_WAIT (LIVE_WAIT(1) || LIVE_WAIT(2) || LIVE_WAIT(3) || LIVE_WAIT(4))
#endif

/* ---- P3, evaluated in the kexec / reset step ------------------------------ */
#if PROP == 3
#if N == 2
#define CHECK_P3 assert(vmx[1] == VMX_OFF); assert(vmx[2] == VMX_OFF)
#elif N == 3
#define CHECK_P3 assert(vmx[1] == VMX_OFF); assert(vmx[2] == VMX_OFF); \
                 assert(vmx[3] == VMX_OFF)
#else
#define CHECK_P3 assert(vmx[1] == VMX_OFF); assert(vmx[2] == VMX_OFF); \
                 assert(vmx[3] == VMX_OFF); assert(vmx[4] == VMX_OFF)
#endif
#else
#define CHECK_P3 skip
#endif

/* ---- P6: kexec / reset does not stop the world; checked at rest ----------- */
#if PROP == 6
#if N == 2
#define CHECK_SETTLED if :: finished != FIN_NONE -> \
    assert(vmx[1] == VMX_OFF); assert(vmx[2] == VMX_OFF) :: else -> skip fi
#elif N == 3
#define CHECK_SETTLED if :: finished != FIN_NONE -> \
    assert(vmx[1] == VMX_OFF); assert(vmx[2] == VMX_OFF); assert(vmx[3] == VMX_OFF) \
    :: else -> skip fi
#else
#define CHECK_SETTLED if :: finished != FIN_NONE -> \
    assert(vmx[1] == VMX_OFF); assert(vmx[2] == VMX_OFF); assert(vmx[3] == VMX_OFF); \
    assert(vmx[4] == VMX_OFF) :: else -> skip fi
#endif

#define FINISH(kind) \
  if :: finished == FIN_NONE -> finished = kind; finisher = me :: else -> skip fi; \
  gone[me] = 1
#else
#define FINISH(kind) finished = kind; finisher = me; CHECK_P3; done = 1
#endif

/* ---- BUG / oops ------------------------------------------------------------ */
#if PROP == 1
#define ASSERT_P1 assert(oopsCpu == 0)      /* fires: oopsCpu was just set */
#else
#define ASSERT_P1 skip
#endif
#if PROP == 0
#define SANITY_OOPS assert(panic_cpu != INVALID)   /* die() finds panic owned */
#else
#define SANITY_OOPS skip
#endif
/* an oops in NMI context: die() -> oops_end(): crash_kexec() returns because
 * panic_cpu is owned (by B), panic("Fatal exception in interrupt") loses the
 * panic_cpu cmpxchg -> panic_smp_self_stop() (or, on B itself, a nested panic
 * that cannot take the kexec lock): spins for ever without acking.
 * In task context: oops_end kills the task (not expected to be reachable). */
#if PROP == 7
#define ASSERT_P7 assert(!(me == CPU_A && aCase == CASE))
#else
#define ASSERT_P7 skip
#endif
#define OOPS(kind) \
  if :: oopsCpu == 0 -> oopsCpu = me; oopsKind = kind :: else -> skip fi; \
  ASSERT_P1; ASSERT_P7; SANITY_OOPS; \
  if :: ctx[me] == CTX_NMI -> stuck[me] = 1 :: else -> taskDead[me] = 1 fi

/* ---- VMX instructions ---------------------------- */
/* walk loaded_vmcss_on_cpu (0/1 entry), VMCLEAR it: #UD outside VMX operation,
 * KVM's fixup calls kvm_spurious_fault(): BUG unless kvm_rebooting           */
#define VMCLEAR_WALK(G) \
  d_step { G -> \
    if \
    :: vmcsLoaded[me] && vmx[me] == VMX_ROOT -> vmcsDirty[me] = 0; LOG("EV CPU%d VMCLEAR ok\n") \
    :: vmcsLoaded[me] && vmx[me] == VMX_OFF && kvm_rebooting -> \
         faultsEaten++; LOG("EV CPU%d VMCLEAR #UD eaten (kvm_rebooting)\n") \
    :: vmcsLoaded[me] && vmx[me] == VMX_OFF && !kvm_rebooting -> \
         LOG("EV CPU%d VMCLEAR #UD -> kvm_spurious_fault -> BUG\n"); OOPS(K_VMCLEAR_BUG) \
    :: else -> LOG("EV CPU%d VMCLEAR walk: list empty\n") \
    fi }

/* VMXOFF: #UD outside VMX operation; E0 no fixup => oops, E1+ eaten */
#define VMXOFF_STEP(G) \
  d_step { G -> \
    if \
    :: vmx[me] == VMX_ROOT -> vmx[me] = VMX_OFF; A_PHASE(1); LOG("EV CPU%d VMXOFF\n") \
    :: else -> \
       if \
       :: VMXOFF_EATS_FAULTS -> faultsEaten++; LOG("EV CPU%d VMXOFF #UD eaten\n") \
       :: else -> LOG("EV CPU%d VMXOFF #UD, no fixup -> oops\n"); OOPS(K_VMXOFF_OOPS) \
       fi \
    fi }

#define CLEAR_VMXE(G) d_step { G -> vmxe[me] = 0; A_PHASE(2); LOG("EV CPU%d CR4.VMXE := 0\n") }

/* cpu_emergency_vmxoff() / __cpu_emergency_vmxoff() (E0/E1) and the VMX part
 * of E2 cpu_emergency_disable_virtualization(): if CR4.VMXE { VMXOFF; clear } */
#define EMERGENCY_VMXOFF(G) \
  if \
  :: d_step { G && vmxe[me] -> LOG("EV CPU%d reads CR4.VMXE=1\n") }; \
     VMXOFF_STEP(G); \
     CLEAR_VMXE(G) \
  :: d_step { G && !vmxe[me] -> LOG("EV CPU%d reads CR4.VMXE=0: no VMXOFF\n") } \
  fi

/* E3 vmx_emergency_disable(), the registered emergency virt callback */
#define VMX_EMERGENCY_DISABLE(G) \
  d_step { G -> kvm_rebooting = 1; LOG("EV CPU%d kvm_rebooting := 1\n") }; \
  if \
  :: d_step { G && vmxe[me] -> LOG("EV CPU%d reads CR4.VMXE=1\n") }; \
     VMCLEAR_WALK(G); \
     VMXOFF_STEP(G); \
     CLEAR_VMXE(G) \
  :: d_step { G && !vmxe[me] -> LOG("EV CPU%d reads CR4.VMXE=0: return\n") } \
  fi

/* ---- F1.3 nmi_shootdown_cpus(CB), initiator side, task context of `me` ----
 * An early return jumps to label sd_return, which each caller defines right
 * after the call (the inline is used once per proctype).                   */
inline nmi_shootdown_cpus(CB)
{
  /* 1. local_irq_disable(): IF is already 0 on both initiators */
#if SHOOTDOWN_ONLY_ONCE
  if                                                  /* 2. */
  :: d_step { GT && crash_ipi_issued ->
       warns++; LOG("EV CPU%d nmi_shootdown_cpus: WARN_ON_ONCE(crash_ipi_issued), return\n") };
     goto sd_return
  :: d_step { GT && !crash_ipi_issued -> LOG("EV CPU%d nmi_shootdown_cpus: crash_ipi_issued=0\n") }
  fi;
#endif
  d_step { GT -> crashing_cpu = me; LOG("EV CPU%d crashing_cpu := me\n") };           /* 3 */
  d_step { GT -> shootdown_callback = CB;
                 printf("EV CPU%d shootdown_callback := %d\n", me, CB) }; /* 4 */
  d_step { GT -> waiting_for_crash_ipi = N - 1;
                 printf("EV CPU%d waiting_for_crash_ipi := %d\n", me, N - 1) }; /* 5 */
  d_step { GT -> nmi_regs++;                                                /* 6 */
                 if
                 :: nmi_regs > 1 && REG_REFUSES_DOUBLE ->
                      regFailed[me] = 1; regRefused = 1; warns++;
                      LOG("EV CPU%d register_nmi_handler: already registered, WARN, -EINVAL\n")
                 :: nmi_regs > 1 && !REG_REFUSES_DOUBLE -> dblReg = 1;
                      LOG("EV CPU%d register_nmi_handler: DOUBLE list_add (list corrupted)\n")
                 :: else -> LOG("EV CPU%d register_nmi_handler(crash)\n")
                 fi;
#if PROP == 5
                 assert(!dblReg)
#endif
         };
  if                                                                        /* 7, 8 */
  :: d_step { GT && regFailed[me] ->
       LOG("EV CPU%d nmi_shootdown_cpus: registration failed, return (no NMI sent)\n") };
     goto sd_return
  :: d_step { GT && !regFailed[me] -> SEND_ALLBUTSELF;
       LOG("EV CPU%d sends NMI to all-but-self\n") }
  fi;
  d_step { GT -> crash_ipi_issued = 1; inWait[me] = 1;                      /* 9 */
                 LOG("EV CPU%d crash_ipi_issued := 1; starts 1000 ms wait\n") };
  do                                                  /* 10. poll <= 1000 x 1 ms */
  :: d_step { GT && waiting_for_crash_ipi <= 0 -> inWait[me] = 0;
                 LOG("EV CPU%d wait ends: waiting_for_crash_ipi <= 0\n") }; break
  :: atomic { GT && timeout -> inWait[me] = 0;   /* atomic: timeout */
                 if :: timedOutCpu == 0 -> timedOutCpu = me :: else -> skip fi;
                 printf("EV CPU%d wait TIMES OUT (waiting_for_crash_ipi=%d)\n",
                        me, waiting_for_crash_ipi);
#if PROP == 2
                 assert(timedOutCpu == 0)
#endif
       }; break
  od
}

/* ---- CPU A: task-context emergency restart: F1.2 step 1, then the reset ---- */
proctype TaskA(byte me)
{
  {
    d_step { GT -> IF[me] = 0; LOG("EV CPU%d emergency restart: local_irq_disable\n") };
#if ERA == 0
    /* E0 emergency_vmx_disable_all: only if this CPU has CR4.VMXE=1:
     * cpu_vmxoff() (VMXOFF without fixup, clear VMXE), then
     * nmi_shootdown_cpus(vmxoff_nmi)                                    */
    if
    :: d_step { GT && vmxe[me] -> LOG("EV CPU%d reads CR4.VMXE=1\n") }
    :: d_step { GT && !vmxe[me] -> LOG("EV CPU%d reads CR4.VMXE=0: no shootdown\n") }; goto a_reset
    fi;
    VMXOFF_STEP(GT);
    CLEAR_VMXE(GT);
#elif ERA <= 2
    /* E1: cpu_has_vmx(): __cpu_emergency_vmxoff() (VMXOFF if VMXE, faults
     * eaten), E2: cpu_emergency_disable_virtualization() (same for VMX)  */
    EMERGENCY_VMXOFF(GT);
#else
    /* E3: a virt callback is registered (KVM loaded): run it on self */
    VMX_EMERGENCY_DISABLE(GT);
#endif
#if A_SHOOTDOWN
#if SHOOTDOWN_ONLY_ONCE
    /* nmi_shootdown_cpus_on_restart(): if (!crash_ipi_issued) */
    if
    :: d_step { GT && crash_ipi_issued -> LOG("EV CPU%d on_restart: crash_ipi_issued=1, skip shootdown\n") };
       goto a_reset
    :: d_step { GT && !crash_ipi_issued -> skip }
    fi;
    nmi_shootdown_cpus(CB_NULL);
#else
    nmi_shootdown_cpus(CB_VMXOFF);
#endif
sd_return: skip;
#else
end_a_parked: false;    /* A_SHOOTDOWN=0: A's restart is not followed further */
#endif
a_reset: skip;
    d_step { GT -> LOG("EV CPU%d RESET (reset-method loop)\n"); FINISH(FIN_RESET) }
  } unless { stuck[me] || taskDead[me] }
}

/* ---- CPU B: panic() with a crash kernel loaded (F1.6 steps 1-4, F1.7) ------ */
proctype TaskB(byte me)
{
  {
    d_step { GT -> IF[me] = 0; LOG("EV CPU%d panic: local_irq_disable\n") };
    if                                                    /* panic_cpu cmpxchg */
    :: d_step { GT && panic_cpu == INVALID -> panic_cpu = me; LOG("EV CPU%d panic_cpu := me\n") }
    :: d_step { GT && panic_cpu != INVALID && panic_cpu != me ->
         LOG("EV CPU%d panic_cpu owned elsewhere: panic_smp_self_stop\n") };
end_b_selfstop: false            /* spins with IF=0, still takes NMIs */
    fi;
    /* __crash_kexec -> native_machine_crash_shutdown: local_irq_disable;
     * crash_smp_send_stop -> kdump_nmi_shootdown_cpus                     */
    nmi_shootdown_cpus(CB_KDUMP);
sd_return: skip;
    /* disable_local_APIC() (no modelled effect); virt off on self */
#if ERA <= 2
    VMCLEAR_WALK(GT);                 /* cpu_crash_vmclear_loaded_vmcss()        */
    EMERGENCY_VMXOFF(GT);             /* cpu_emergency_vmxoff() / E2 disable_virt */
#else
    VMX_EMERGENCY_DISABLE(GT);        /* cpu_emergency_disable_virtualization()  */
#endif
    d_step { GT -> LOG("EV CPU%d machine_kexec\n"); FINISH(FIN_KEXEC) }
  } unless { stuck[me] || taskDead[me] }
}

/* ---- NMI context of every CPU: delivery, IRET, crash_nmi_callback (F1.4) --- */
proctype Nmi(byte me)
{
  {
end_idle:
    do
    :: d_step { !done && nmiLatched[me] && !nmiBlocked[me] ->
         /* delivery: NMIs blocked, IF=0 through the gate, wakes from HLT */
         nmiLatched[me] = 0; nmiBlocked[me] = 1; savedIF[me] = IF[me];
         IF[me] = 0; ctx[me] = CTX_NMI; act[me] = ACT_RUNNING;
         LOG("EV CPU%d takes NMI -> crash_nmi_callback\n") }
       if
       :: d_step { !done && crashing_cpu == me ->           /* 1. return NMI_HANDLED */
#if DBLREG_LOOP
            if
            :: dblReg -> stuck[me] = 1;
                 LOG("EV CPU%d is crashing_cpu, but the corrupted handler list loops for ever\n")
            :: else ->
#endif
            nmiBlocked[me] = 0; IF[me] = savedIF[me]; savedIF[me] = 0;
            ctx[me] = CTX_TASK; LOG("EV CPU%d is crashing_cpu: return, IRET\n")
#if DBLREG_LOOP
            fi
#endif
          }
       :: d_step { !done && crashing_cpu != me ->
#if PROP >= 7
            if :: me == CPU_A -> aCase = aPhase + 1 :: else -> skip fi;
#endif
            LOG("EV CPU%d is not crashing_cpu: goes on\n") }; break
       fi
    od;
    skip;   /* (break may not jump into a d_step) */
    /* 2. local_irq_disable (IF already 0); 3. shootdown_callback */
#if ERA <= 1
    if
    :: d_step { !done && shootdown_callback == CB_VMXOFF -> LOG("EV CPU%d callback vmxoff_nmi\n") };
       EMERGENCY_VMXOFF(GN)
    :: d_step { !done && shootdown_callback == CB_KDUMP -> LOG("EV CPU%d callback kdump_nmi_callback\n") };
       /* crash_save_cpu; VMCLEAR hook; cpu_emergency_vmxoff; (SVM, PT,
        * disable_local_APIC: no modelled effect)                       */
       VMCLEAR_WALK(GN);
       EMERGENCY_VMXOFF(GN)
    fi;
#elif ERA == 2
    if
    :: d_step { !done && shootdown_callback == CB_KDUMP -> LOG("EV CPU%d callback kdump_nmi_callback\n") };
       VMCLEAR_WALK(GN)                           /* VMCLEAR hook */
    :: d_step { !done && shootdown_callback != CB_KDUMP -> LOG("EV CPU%d callback NULL\n") }
    fi;
    EMERGENCY_VMXOFF(GN);                         /* 4. core: disable virt */
#else
    /* E3: kdump_nmi_callback = crash_save_cpu, PT, APIC (no VMX effect);
     * restart: NULL.  4. core: cpu_emergency_disable_virtualization()   */
    VMX_EMERGENCY_DISABLE(GN);
#endif
    d_step { !done -> waiting_for_crash_ipi--; acked[me] = 1;                 /* 5. ack */
#if PROP == 0
             assert(vmx[me] == VMX_OFF);    /* sanity: 1(d) acked => VMX off */
#endif
#if PROP == 8
             assert(!(me == CPU_A && aCase == CASE));
#endif
             printf("EV CPU%d acks: waiting_for_crash_ipi := %d\n", me,
                    waiting_for_crash_ipi) };
    d_step { !done -> act[me] = ACT_HLT; stuck[me] = 1; LOG("EV CPU%d halts (NMIs blocked, IF=0)\n") } /* 7 */
  } unless { stuck[me] || gone[me] }
}

#if LAT
/* ---- interconnect: an in-flight NMI arrives; at most one stays latched ---- */
#define ARRIVE(t) d_step { !done && nmiInFlight[t] > 0 -> nmiInFlight[t]--; \
                    if :: nmiLatched[t] -> nmisLost++ :: else -> nmiLatched[t] = 1 fi; \
                    printf("EV bus: NMI arrives at CPU%d\n", t) }
proctype Bus()
{
end_bus:
  do
  :: ARRIVE(1)
  :: ARRIVE(2)
#if N >= 3
  :: ARRIVE(3)
#endif
#if N >= 4
  :: ARRIVE(4)
#endif
  od
}
#endif

/* ---- quiescence monitor: P4, the machine is not left hanging -------------- */
proctype Monitor()
{
  atomic { (done || (timeout && !ANY_LIVE_WAIT)) ->
#if PROP == 4
    assert(done);
#endif
#if PROP == 6
    CHECK_SETTLED;
#endif
    skip }
}

init
{
  byte c;
  d_step {
    c = 1;
    do
    :: c <= N ->
       vmx[c] = VMX_ROOT; vmxe[c] = 1; vmcsLoaded[c] = 1; vmcsDirty[c] = 1;
       IF[c] = 1; ctx[c] = CTX_TASK; act[c] = ACT_RUNNING; c++
    :: else -> break
    od;
    vmcsLoaded[CPU_A] = VMCS_A; vmcsDirty[CPU_A] = VMCS_A;
    c = 0
  };
  atomic {
    run TaskA(CPU_A);
    run TaskB(CPU_B);
    run Nmi(1); run Nmi(2);
#if N >= 3
    run Nmi(3);
#endif
#if N >= 4
    run Nmi(4);
#endif
#if LAT
    run Bus();
#endif
    run Monitor()
  }
}
